"""The chart's dependent coordinates as exact implicit functions of its free coordinates.

In a chart (affine coordinates set to 1, dependent coordinates S, free coordinates u; see
docs/conventions.md) the variety is locally the graph u -> Z(u): Z_free = u, Z_affine = 1 and
Z_S(u) solves p(Z(u)) = 0.  Z is **holomorphic** in u, so this module works with *complex*
u (shape (dim,)) and complex tangents: ``jax.jacfwd(Z, holomorphic=True)`` gives dZ/du, and
nesting it gives the higher holomorphic derivatives.  (A real parametrisation
u = u0 + x + i y is just ``Z(u0 + x + 1j * y)``; JAX's real jvp of a holomorphic function is
the complex-linear map, so both views agree.)

* :func:`embed` returns ``Z`` as a :func:`jax.custom_jvp` function: the primal runs Newton's
  method on the dependent coordinates from a reference point on X (converged to rounding
  level), and the JVP is the implicit function theorem, dZ = P(Z)^T du with
  P(Z) = dZ/du = e_free - (J_S^{-1} J_free)^T e_S evaluated *at the output Z*.  Since the rule
  is itself written in differentiable JAX, differentiating it again applies the theorem
  again: derivatives of every order are exact (not those of a truncated Newton iteration,
  whose k-th derivative is wrong beyond the order the iteration happens to reproduce).
* :func:`jets` gives the first and second holomorphic derivatives in closed form at a point
  of X, without Newton: P[i] = dZ/du_i and Q[i, k] = d^2 Z / du_i du_k from
  J_S Q_S[i, k] = -(d^2 p)(P_i, P_k) (differentiate p(Z(u)) = 0 twice; Q vanishes on free and
  affine coordinates).  These are all a Kähler metric's curvature needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cygen.geometry import runtime as rt

NEWTON_STEPS = 8  # primal Newton steps of embed(); quadratic convergence from a nearby point


def free_coordinates(geo: rt.Geometry, z: jax.Array, chart) -> jax.Array:
    """The chart's local coordinates u = z_free / z_affine, shape (dim,), complex."""
    return rt.chart_point(geo, z, chart)[jnp.asarray(geo.free)[chart]]


def embed(geo: rt.Geometry, chart, z_ref: jax.Array,
          steps: int = NEWTON_STEPS) -> Callable[[jax.Array], jax.Array]:
    """``Z(u)``: the point of X with chart coordinates u (complex (dim,)) -> (N,) complex.

    ``z_ref`` is a point on X (any scaling) in the domain of ``chart``; Newton's method on the
    dependent coordinates starts there, so u should be near ``free_coordinates(z_ref)`` (the
    implicit function is a local object).  ``Z`` is holomorphic and differentiable to any
    order by ``jax.jvp``/``jax.jacfwd`` (use ``holomorphic=True`` for complex Jacobians).
    Derivatives with respect to ``z_ref`` are not defined (it only picks the branch).
    """
    zc_ref = jax.lax.stop_gradient(rt.chart_point(geo, z_ref, chart))
    free = jnp.asarray(geo.free)[chart]
    dep = jnp.asarray(geo.dependent)[chart]

    def newton(u):
        z = zc_ref.astype(jnp.result_type(zc_ref, u)).at[free].set(u)

        def step(_, z):
            minor = geo.jacobian(z)[:, dep]
            return z.at[dep].add(-rt.solve_small(minor, geo.equations(z)[:, None])[:, 0])

        return jax.lax.fori_loop(0, steps, step, z)

    @jax.custom_jvp
    def point(u):
        return newton(u)

    @point.defjvp
    def _jvp(primals, tangents):
        (u,), (du,) = primals, tangents
        z = point(u)  # under an outer transformation this recurses into this rule: exact
        p = rt.frame_at(geo, z, geo.jacobian(z), chart).pullback  # (dim, N), at Z(u)
        return z, du.astype(p.dtype) @ p

    return point


class Jets(NamedTuple):
    """Holomorphic jets of the embedding at a point of X (single point)."""

    zc: jax.Array  # (N,) the point in the chart's frame (affine coordinates 1)
    pullback: jax.Array  # (dim, N)      P[i, m] = dZ_m/du_i
    second: jax.Array  # (dim, dim, N)   Q[i, k, m] = d^2 Z_m / du_i du_k (symmetric in i, k)
    minor: jax.Array  # (K, K) dp/dz_S


def jets(geo: rt.Geometry, z: jax.Array, chart) -> Jets:
    """P = dZ/du and Q = d^2 Z/du du at ``z`` (on X) in ``chart``, in closed form.

    Differentiating p(Z(u)) = 0 twice: J Q[i, k] + (d^2 p)(P_i, P_k) = 0, and Q is zero on the
    free and affine coordinates, so Q_S[i, k] = -J_S^{-1} (d^2 p)(P_i, P_k).  The Hessian of the
    (holomorphic) equations along P_k is one complex JVP of the generated ``jacobian``.
    """
    zc = rt.chart_point(geo, z, chart)
    f = rt.frame_at(geo, zc, geo.jacobian(zc), chart)
    p = f.pullback
    dep = jnp.asarray(geo.dependent)[chart]
    # hp[k, e, a] = sum_b d_a d_b p_e P[k, b]
    hp = jax.vmap(lambda v: jax.jvp(geo.jacobian, (zc,), (v,))[1])(p)
    h = jnp.sum(hp[None, :, :, :] * p[:, None, None, :], axis=-1)  # [i, k, e]
    h = jnp.moveaxis(h, -1, 0)  # (K, dim, dim): (d^2 p_e)(P_i, P_k)
    k_eq, dim = h.shape[0], p.shape[0]
    q_dep = -rt.solve_small(f.minor, h.reshape(k_eq, dim * dim)).reshape(k_eq, dim, dim)
    n = zc.shape[0]
    e_dep = jax.nn.one_hot(dep, n, dtype=zc.dtype)  # (K, N)
    q = jnp.sum(q_dep[:, :, :, None] * e_dep[:, None, None, :], axis=0)
    return Jets(zc, p, q, f.minor)
