"""Kodaira-Spencer data of complex-structure deformations at one point of X (metric-free).

A direction a of moduli space moves the equations by q_a = dp/dt_a (emitted exactly by the
compiler, with d^2 p / dz dt_a).  To compare the members X_t we need a diffeomorphism
X_0 -> X_t: the flow of a vector field zeta_a on the ambient space with J zeta_a = -q_a
(J = dp/dz), so that p(z + t zeta_a, t) = 0 to first order.  We take the one of least
Fubini-Study length,

    zeta_a = -Gbar^-1 J^dagger (J Gbar^-1 J^dagger)^-1 q_a      (G: ambient FS metric),

written in a chart's affine coordinates; it is intrinsic (the constraint and the metric
are), hence one smooth vector field on all of X.  Pulling Omega_t = f_t du back along it,

    d/dt_a Omega = k_a Omega + iota_{mu_a} Omega,
    k_a = (d_t + zeta_a . d_z) log f + tr(d_u zeta_a^u),
    (mu_a)^i_jbar = dbar_{u_j} zeta_a^{u_i},

with f = 1 / det(dp/dz_dependent) the chart's Omega coefficient, u the chart's free
coordinates and every derivative taken along X.  mu_a is the Kodaira-Spencer class's
representative (its normal part -J_dep^-1 q_a is holomorphic), and from these, with
E the |Omega|^2-weighted mean over X (:mod:`cygen.evaluate.moduli`):

    G_{a bbar} = -d_a dbar_b log int |Omega|^2 = E[tr(M_a conj(M_b))] - Cov(k_a, k_b),
    kappa_abc e^K = E[(f / conj f) D(M_a, M_b, M_c)]          (threefolds),

with M_a[i, j] = (mu_a)^i_jbar, tr(M_a conj(M_b)) = sum_ij M_a[i, j] conj(M_b[j, i]) and
D(A, B, C) = eps_ijk eps_lmn A[i, l] B[j, m] C[k, n] (derivation: docs/moduli.md).

Single point, pure: ``jax.vmap`` outside.  The derivatives of zeta along X come from
forward-mode derivatives of the lift matrix L(z) = -Gbar^-1 J^dagger (J Gbar^-1 J^dagger)^-1
along the tangent vectors dZ/du_i (and i dZ/du_i, which separates d from dbar); the
derivatives of q are the compiler's d^2 p / dz dt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import runtime as rt

__all__ = ["KSPoint", "LEVI_CIVITA", "ks_point", "lift_matrix", "mixed_determinant",
           "trace_pairing"]


class KSPoint(NamedTuple):
    """The Kodaira-Spencer data of every direction at one point."""

    k: jax.Array  # (T,) complex
    m: jax.Array  # (T, dim, dim): m[a, i, j] = dbar_{u_j} zeta_a^{u_i}
    phase: jax.Array  # () f / conj(f): Omega^2 / |Omega|^2 in the chart


def lift_matrix(geo: rt.Geometry, x: jax.Array, var: jax.Array) -> jax.Array:
    """L (V, K) with zeta = L q the least-FS-length solution of J zeta = -q, over the chart's
    variable (free, then dependent) coordinates ``var`` at the point ``x``."""
    jac = geo.jacobian(x)[:, var]  # (K, V)
    g_bar = jnp.conj(geo.fs_ambient(x)[var][:, var])  # (V, V)
    a = rt.solve_small(g_bar, jac.conj().T)  # Gbar^-1 J^dagger, (V, K)
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
    return KSPoint(k, m, jnp.conj(det) / det)


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
