"""Generic single-point geometry shared by every generated module.

A generated module supplies the manifold-specific kernels (equations, their
Jacobian, the ambient Fubini-Study metric) and integer chart tables, bundled
as a :class:`Geometry`; everything here is pure, single-point, jit/vmap/grad
friendly, and never branches in Python on traced values.

This is the module generated code imports as ``cygen.runtime`` (the name is part of the
module contract, :data:`cygen.core.version.CONTRACT_VERSION`).

Conventions (see docs/conventions.md):

* ``z`` is complex homogeneous coordinates, all factors concatenated (N,).
* In chart ``c`` each factor is rescaled so its affine coordinate is 1; the
  chart's local coordinates are the *free* coordinates u = z_free / z_affine.
* ``pullback(z, c)[i, m] = dZ_m / du_i`` from the implicit function theorem.
* ``fs_metric(z, c) = P G P^dagger`` with G the ambient d dbar K.
* ``transition(z, a, b)[i, k] = du_a^k / du_b^i`` so that g_b = T g_a T^dagger.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Frame", "Geometry", "chart_point", "cholesky_small", "det", "frame", "frame_at",
           "fs_metric", "normalize", "omega_sq", "pullback", "select_chart",
           "select_chart_normalized", "solve_batched", "solve_small", "transition"]


class Geometry(NamedTuple):
    """Manifold-specific pieces of a generated module (static: use in closures)."""

    equations: Callable[[jax.Array], jax.Array]  # (N,) -> (K,)
    jacobian: Callable[[jax.Array], jax.Array]  # (N,) -> (K, N)
    fs_ambient: Callable[[jax.Array], jax.Array]  # (N,) -> (N, N)
    factor_sizes: tuple[int, ...]  # n_a + 1 for each factor
    kahler: tuple[float, ...]  # Kähler moduli t_a of the FS reference
    affine: np.ndarray  # (n_charts, m) global indices
    dependent: np.ndarray  # (n_charts, K)
    free: np.ndarray  # (n_charts, dim)
    dependent_sets: np.ndarray  # (n_sets, K)
    lookup: np.ndarray  # (n_affine_combinations, n_sets) -> chart or -1

    @property
    def factor_of(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.factor_sizes)), self.factor_sizes)

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(int(o) for o in np.cumsum((0,) + self.factor_sizes[:-1]))


def det(m: jax.Array) -> jax.Array:
    """Determinant of a small (..., K, K) matrix; closed forms for K <= 3, pivoted elimination
    above (no LAPACK custom call)."""
    k = m.shape[-1]
    if k == 1:
        return m[..., 0, 0]
    if k == 2:
        return m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
    if k == 3:
        return (
            m[..., 0, 0] * (m[..., 1, 1] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 1])
            - m[..., 0, 1] * (m[..., 1, 0] * m[..., 2, 2] - m[..., 1, 2] * m[..., 2, 0])
            + m[..., 0, 2] * (m[..., 1, 0] * m[..., 2, 1] - m[..., 1, 1] * m[..., 2, 0])
        )
    flat = m.reshape((-1, k, k))
    upper, _, sign = jax.vmap(_eliminate)(flat, jnp.zeros((flat.shape[0], k, 0), m.dtype))
    return (sign * jnp.prod(jnp.diagonal(upper, axis1=-2, axis2=-1), axis=-1)).reshape(
        m.shape[:-2])


def _eliminate(m: jax.Array, rhs: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Gaussian elimination with partial pivoting of one (K, K) matrix and its (K, R)
    right-hand side, unrolled in jax.numpy: (upper triangle, transformed rhs, sign of the row
    permutation).  No LAPACK custom call: jaxlib's batched CPU LAPACK kernels share XLA's
    intra-op thread pool and deadlock under concurrent dispatch (seen with 2 cores)."""
    k = m.shape[-1]
    rows = jnp.arange(k)
    sign = jnp.ones((), m.dtype)
    for j in range(k - 1):
        p = j + jnp.argmax(jnp.abs(m[j:, j]))
        swap = jnp.where(rows == j, p, jnp.where(rows == p, j, rows))
        m, rhs = m[swap], rhs[swap]
        sign = jnp.where(p == j, sign, -sign)
        f = m[j + 1:, j] / m[j, j]
        m = m.at[j + 1:].add(-f[:, None] * m[j])
        rhs = rhs.at[j + 1:].add(-f[:, None] * rhs[j])
    return m, rhs, sign


def _back_substitute(upper: jax.Array, rhs: jax.Array) -> jax.Array:
    k = upper.shape[-1]
    x = [None] * k
    for i in reversed(range(k)):
        acc = rhs[i]
        for j in range(i + 1, k):
            acc = acc - upper[i, j] * x[j]
        x[i] = acc / upper[i, i]
    return jnp.stack(x)


def cholesky_small(m: jax.Array) -> jax.Array:
    """Lower-triangular C with C C^dagger = m for a small Hermitian positive (K, K) matrix,
    unrolled in jax.numpy: no LAPACK custom call (see :func:`solve_small`)."""
    k = m.shape[-1]
    c = jnp.zeros_like(m)
    for j in range(k):
        d = jnp.sqrt(jnp.real(m[j, j] - jnp.sum(jnp.abs(c[j, :j]) ** 2)))
        c = c.at[j, j].set(d)
        for i in range(j + 1, k):
            c = c.at[i, j].set((m[i, j] - jnp.sum(c[i, :j] * jnp.conj(c[j, :j]))) / d)
    return c


def solve_small(m: jax.Array, rhs: jax.Array) -> jax.Array:
    """m^{-1} rhs for a small (K, K) matrix and (K, R) ``rhs``: closed forms (adjugate) for
    K <= 3, unrolled pivoted elimination above (no LAPACK custom call, see :func:`_eliminate`)."""
    k = m.shape[-1]
    if k == 1:
        return rhs / m[0, 0]
    if k > 3:
        return _back_substitute(*_eliminate(m, rhs)[:2])
    if k == 2:
        adj = jnp.array([[m[1, 1], -m[0, 1]], [-m[1, 0], m[0, 0]]])
    else:
        c = [[m[(i + 1) % 3, (j + 1) % 3] * m[(i + 2) % 3, (j + 2) % 3]
              - m[(i + 1) % 3, (j + 2) % 3] * m[(i + 2) % 3, (j + 1) % 3] for j in range(3)]
             for i in range(3)]
        adj = jnp.array(c).T
    return adj @ rhs / det(m)


def solve_batched(m: jax.Array, rhs: jax.Array) -> jax.Array:
    """:func:`solve_small` over leading batch axes: (..., K, K), (..., K, R) -> (..., K, R)."""
    k, r = m.shape[-1], rhs.shape[-1]
    flat = jax.vmap(solve_small)(m.reshape((-1, k, k)), rhs.reshape((-1, k, r)))
    return flat.reshape(rhs.shape)


def _affine_locals(geo: Geometry, z: jax.Array) -> list[jax.Array]:
    return [
        jnp.argmax(jnp.abs(z[o : o + s]))
        for o, s in zip(geo.offsets, geo.factor_sizes, strict=True)
    ]


def normalize(geo: Geometry, z: jax.Array) -> jax.Array:
    """Scale each factor so that its coordinate of largest modulus is exactly 1."""
    parts = []
    for o, s, i in zip(geo.offsets, geo.factor_sizes, _affine_locals(geo, z), strict=True):
        zf = z[o : o + s]
        parts.append(zf / zf[i])
    return jnp.concatenate(parts)


def select_chart(geo: Geometry, z: jax.Array) -> jax.Array:
    """Affine coordinate = largest |z| per factor; dependent set = largest |minor|."""
    z = normalize(geo, z)
    return select_chart_normalized(geo, z, geo.jacobian(z))


def select_chart_normalized(geo: Geometry, z: jax.Array, jac: jax.Array) -> jax.Array:
    """``select_chart`` for an already normalised ``z`` whose Jacobian is ``jac``."""
    combo = 0
    for s, i in zip(geo.factor_sizes, _affine_locals(geo, z), strict=True):
        combo = combo * s + i
    minors = jnp.abs(det(jnp.moveaxis(jac[:, geo.dependent_sets], 1, 0)))
    row = jnp.asarray(geo.lookup)[combo]
    best = jnp.argmax(jnp.where(row >= 0, minors, -1.0))
    return row[best]


def chart_point(geo: Geometry, z: jax.Array, chart) -> jax.Array:
    """``z`` rescaled so that the chart's affine coordinates are 1."""
    affine = jnp.asarray(geo.affine)[chart]
    return z / z[affine][jnp.asarray(geo.factor_of)]


class Frame(NamedTuple):
    """A point in a chart's affine frame with the derivatives every quantity shares."""

    zc: jax.Array  # (N,) the point with the chart's affine coordinates set to 1
    jac: jax.Array  # (K, N) dp/dz at zc
    minor: jax.Array  # (K, K) dp/dz_dep
    pullback: jax.Array  # (dim, N) dZ/du


def frame(geo: Geometry, z: jax.Array, chart) -> Frame:
    """Chart frame of ``z``: the implicit function theorem gives dz_dep/du = -minor^{-1} J_free."""
    zc = chart_point(geo, z, chart)
    return frame_at(geo, zc, geo.jacobian(zc), chart)


def frame_at(geo: Geometry, zc: jax.Array, jac: jax.Array, chart) -> Frame:
    """:func:`frame` for a point ``zc`` already in the chart's frame, with its Jacobian."""
    n = len(geo.factor_of)
    z = zc
    dep = jnp.asarray(geo.dependent)[chart]
    free = jnp.asarray(geo.free)[chart]
    minor = jac[:, dep]
    x = solve_small(minor, jac[:, free])
    e_free = jax.nn.one_hot(free, n, dtype=z.dtype)
    e_dep = jax.nn.one_hot(dep, n, dtype=z.dtype)
    return Frame(zc, jac, minor, e_free - x.T @ e_dep)


def omega_sq(geo: Geometry, z: jax.Array, chart) -> jax.Array:
    """|Omega|^2 = 1 / |det dp/dz_dep|^2 in the chart's affine frame."""
    zc = chart_point(geo, z, chart)
    minor = geo.jacobian(zc)[:, jnp.asarray(geo.dependent)[chart]]
    return 1.0 / jnp.abs(det(minor)) ** 2


def pullback(geo: Geometry, z: jax.Array, chart) -> jax.Array:
    """P[i, m] = dZ_m / du_i (dim x N); dependent rows from the implicit function theorem."""
    return frame(geo, z, chart).pullback


def fs_metric(geo: Geometry, z: jax.Array, chart) -> jax.Array:
    """The Fubini-Study metric g_{i jbar} in the chart's local coordinates (Hermitian)."""
    f = frame(geo, z, chart)
    return f.pullback @ geo.fs_ambient(f.zc) @ f.pullback.conj().T


def transition(geo: Geometry, z: jax.Array, chart_a, chart_b) -> jax.Array:
    """T[i, k] = du_a^k / du_b^i at z, so that a metric obeys g_b = T g_a T^dagger."""
    n = len(geo.factor_of)
    zb = chart_point(geo, z, chart_b)
    free_a = jnp.asarray(geo.free)[chart_a]
    aff_of_free = jnp.asarray(geo.affine)[chart_a][jnp.asarray(geo.factor_of)[free_a]]
    zf, za = zb[free_a], zb[aff_of_free]
    # d u_a^k / d Z_m = delta(m, f_k) / Z_c(k) - delta(m, c(k)) Z_f(k) / Z_c(k)^2
    d_a = (
        jax.nn.one_hot(free_a, n, dtype=z.dtype).T / za
        - jax.nn.one_hot(aff_of_free, n, dtype=z.dtype).T * (zf / za**2)
    )
    return pullback(geo, z, chart_b) @ d_a
