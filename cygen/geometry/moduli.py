"""Kodaira-Spencer data of complex-structure deformations at one point of X (metric-free).

A direction a of moduli space moves the equations by q_a = dp/dt_a (emitted exactly by the
compiler, with d^2 p / dz dt_a).  The ambient vector field of least Fubini-Study length with
J zeta_a = -q_a (J = dp/dz) carries X_0 to X_t; pulling Omega back along it splits
d/dt_a Omega into k_a Omega (the (3,0) part) and iota_{mu_a} Omega, mu_a the Kodaira-Spencer
representative.  Per point this module returns k_a and M_a[i, j] = (mu_a)^i_jbar, from
which :mod:`cygen.evaluate.moduli` forms G_{a bbar} = E[tr(M_a conj(M_b))] - Cov(k_a, k_b)
and kappa_abc e^K.  Single point, pure: ``jax.vmap`` outside; the derivatives of zeta along X
are forward-mode derivatives of the lift matrix along the tangent vectors dZ/du_i and
i dZ/du_i.  The derivation is in docs/moduli.md, "The Kodaira-Spencer route" (the site's
"Weil-Petersson metric and Yukawa couplings" page).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import runtime as rt

__all__ = ["KSPoint", "LEVI_CIVITA", "fs_inverse", "ks_point", "lift_matrix", "mixed_determinant",
           "trace_pairing"]


class KSPoint(NamedTuple):
    """The Kodaira-Spencer data of every direction at one point."""

    k: jax.Array  # (T,) complex
    m: jax.Array  # (T, dim, dim): m[a, i, j] = dbar_{u_j} zeta_a^{u_i}
    phase: jax.Array  # () f / conj(f): Omega^2 / |Omega|^2 in the chart
    dlog_f: jax.Array  # (dim,) d_{u_i} log f along X (f: Omega's chart coefficient)


def fs_inverse(geo: rt.Geometry, x: jax.Array, var: jax.Array) -> jax.Array:
    """conj(G)^-1 on the chart's variable coordinates ``var`` (every coordinate but the
    affine ones) at the homogeneous point ``x``, in closed form.  Per factor,
    G = t / (pi |x|^4) (|x|^2 I - conj(x) x^T) restricted to ``var``, and by Sherman-Morrison
    conj(G)^-1 = (pi |x|^2 / t)(I + x conj(x)^T / |x_aff|^2) there (x_aff the factor's affine
    coordinate; in the chart's frame |x_aff| = 1 and this is (pi N / t)(I + u u^dagger),
    N = 1 + |u|^2).  No linear solve: cheap to differentiate twice."""
    fac = jnp.asarray(geo.factor_of)
    n = len(geo.factor_sizes)
    sq = jnp.abs(x) ** 2
    norm = jax.ops.segment_sum(sq, fac, num_segments=n)
    in_var = jnp.zeros(x.shape[0], bool).at[var].set(True)
    aff = jax.ops.segment_sum(jnp.where(in_var, 0.0, sq), fac, num_segments=n)
    scale = (jnp.pi * norm / jnp.asarray(geo.kahler, float))[fac]
    rank_one = x[:, None] * jnp.conj(x)[None, :] / aff[fac][:, None]
    h = scale[:, None] * (jnp.eye(x.shape[0]) + rank_one)
    return jnp.where(fac[:, None] == fac[None, :], h, 0.0)[var][:, var]


def lift_matrix(geo: rt.Geometry, x: jax.Array, var: jax.Array) -> jax.Array:
    """L (V, K) with zeta = L q the least-FS-length solution of J zeta = -q, over the chart's
    variable (free, then dependent) coordinates ``var`` at the point ``x``."""
    jac = geo.jacobian(x)[:, var]  # (K, V)
    a = fs_inverse(geo, x, var) @ jac.conj().T  # Gbar^-1 J^dagger, (V, K)
    return -rt.solve_small((jac @ a).T, a.T).T  # -a (J a)^-1


def ks_point(geo: rt.Geometry, dp_dt: Callable, d2p_dzdt: Callable, z: jax.Array,
             chart) -> KSPoint:
    """k_a, M_a and f / conj(f) at ``z`` in ``chart`` for every direction of the module's
    ``dp_dt`` (see the module docstring)."""
    zc = rt.chart_point(geo, z, chart)
    free = jnp.asarray(geo.free)[chart]
    dep = jnp.asarray(geo.dependent)[chart]
    var = jnp.concatenate([free, dep])
    dim = free.shape[0]
    jac = geo.jacobian(zc)
    frame = rt.frame_at(geo, zc, jac, chart)
    p = frame.pullback  # (dim, N): dZ/du_i, zero on the affine coordinates
    tangents = jnp.concatenate([p, 1j * p])

    lift = jax.vmap(lambda t: jax.jvp(lambda x: lift_matrix(geo, x, var), (zc,), (t,))[1])
    d = lift(tangents)  # (2 dim, V, K): dL along P_i and i P_i
    d_hol = 0.5 * (d[:dim] - 1j * d[dim:])  # d_{u_i} L
    d_anti = 0.5 * (d[:dim] + 1j * d[dim:])  # dbar_{u_i} L
    lmat = lift_matrix(geo, zc, var)

    q = dp_dt(zc)  # (T, K)
    dq = d2p_dzdt(zc)  # (T, K, N)
    dq_along = jnp.einsum("akm,im->aik", dq, p)  # d_{u_i} q_a
    zeta = jnp.einsum("vk,ak->av", lmat, q)
    d_zeta = jnp.einsum("ivk,ak->aiv", d_hol, q) + jnp.einsum("vk,aik->aiv", lmat, dq_along)
    dbar_zeta = jnp.einsum("jvk,ak->ajv", d_anti, q)
    m = jnp.swapaxes(dbar_zeta[:, :, :dim], 1, 2)  # m[a, i, j] = dbar_{u_j} zeta_a^{u_i}
    trace = jnp.trace(d_zeta[:, :, :dim], axis1=1, axis2=2)

    minor = jac[:, dep]
    inv = rt.solve_small(minor, jnp.eye(minor.shape[0], dtype=minor.dtype))
    d_minor = jax.jacfwd(lambda x: geo.jacobian(x)[:, dep], holomorphic=True)(zc)  # (K, K, N)
    dlog_f = -jnp.einsum("kl,lkm->m", inv, d_minor)  # d_z log f, f = 1/det(minor)
    dt_log_f = -jnp.einsum("kl,alk->a", inv, dq[:, :, dep])
    k = dt_log_f + zeta @ dlog_f[var] + trace
    det = rt.det(minor)
    return KSPoint(k, m, jnp.conj(det) / det, p @ dlog_f)


def trace_pairing(m: jax.Array) -> jax.Array:
    """tr(M_a conj(M_b)) = sum_ij M_a[i, j] conj(M_b[j, i]): (..., T, dim, dim) -> (..., T, T)."""
    return jnp.einsum("...aij,...bji->...ab", m, jnp.conj(m))


def _levi_civita(n: int) -> np.ndarray:
    eps = np.zeros((n,) * n)
    for perm in np.array(np.meshgrid(*[range(n)] * n, indexing="ij")).reshape(n, -1).T:
        if len(set(perm)) == n:
            inversions = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
            eps[tuple(perm)] = (-1) ** inversions
    return eps


LEVI_CIVITA = _levi_civita(3)


def mixed_determinant(a: jax.Array, b: jax.Array, c: jax.Array) -> jax.Array:
    """D(A, B, C) = eps_ijk eps_lmn A[i, l] B[j, m] C[k, n] for 3x3 matrices, batched over
    leading axes of each argument as an outer product: (..., Ta, 3, 3), (..., Tb, 3, 3),
    (..., Tc, 3, 3) -> (..., Ta, Tb, Tc).  D(A, A, A) = 6 det A."""
    eps = jnp.asarray(LEVI_CIVITA)
    cof = jnp.einsum("ijk,lmn,...bjm,...ckn->...bcil", eps, eps, b, c)
    return jnp.einsum("...ail,...bcil->...abc", a, cof)
