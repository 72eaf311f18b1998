"""Detect singular manifolds from sampled points.

On a smooth X the Jacobian of the equations has full rank K everywhere.  At a
singular point some combination sum_k lambda_k dp_k vanishes.  Sampled points do
not pile up near a node (the FS measure of an eps-ball there is ~eps^(2n)), so
small gradients alone are no evidence; instead, starting from the sampled points
with the worst-conditioned Jacobians, Gauss-Newton solves

    p(z) = 0,   J(z)^T lambda = 0,   <c_a, z_a> = 1 (each factor),   <e, lambda> = 1,

and a solution with a residual at rounding level is a singular point.  Smooth
manifolds have none, so there are no false alarms from a converging iteration.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

CANDIDATES = 16
ITERATIONS = 40
TOLERANCE = 1e-10


def conditioning(module, points: np.ndarray) -> np.ndarray:
    """Smallest singular value of J(z) over ||z||^(deg-1) proxies: small = near-singular."""

    def one(z):
        jac = module.jacobian(z)
        return jnp.linalg.svd(jac, compute_uv=False)[-1] / jnp.max(jnp.abs(jac))

    return np.asarray(jax.jit(jax.vmap(one))(points))


def find_singular_point(module, points: np.ndarray) -> np.ndarray | None:
    """A singular point of X near the worst sampled points, or None if none is found."""
    if len(points) == 0:
        return None
    order = np.argsort(conditioning(module, points))[:CANDIDATES]
    sizes = module.GEOMETRY.factor_sizes
    offsets = module.GEOMETRY.offsets
    k = module.SPEC["n_equations"]
    jac_fn = jax.jit(module.jacobian)
    eq_fn = jax.jit(module.equations)
    hess_fn = jax.jit(jax.jacfwd(module.jacobian, holomorphic=True))
    for z in points[order]:
        z = np.asarray(z, complex)
        c = [np.conj(z[o : o + s]) / np.vdot(z[o : o + s], z[o : o + s]) for o, s in
             zip(offsets, sizes, strict=True)]
        lam = np.linalg.svd(np.asarray(jac_fn(z)).T)[2].conj()[-1]
        e = np.conj(lam) / np.vdot(lam, lam)
        for _ in range(ITERATIONS):
            jac = np.asarray(jac_fn(z))
            residual = np.concatenate(
                [np.asarray(eq_fn(z)), jac.T @ lam]
                + [[np.dot(ca, z[o : o + s]) - 1] for ca, o, s in zip(c, offsets, sizes,
                                                                     strict=True)]
                + [[np.dot(e, lam) - 1]]
            )
            hess = np.asarray(hess_fn(z))  # (K, N, N)
            n = len(z)
            rows = [np.hstack([jac, np.zeros((k, k))]),
                    np.hstack([np.einsum("k,kmn->mn", lam, hess), jac.T])]
            for ca, o, s in zip(c, offsets, sizes, strict=True):
                row = np.zeros((1, n + k), complex)
                row[0, o : o + s] = ca
                rows.append(row)
            row = np.zeros((1, n + k), complex)
            row[0, n:] = e
            rows.append(row)
            step = np.linalg.lstsq(np.vstack(rows), residual, rcond=None)[0]
            z, lam = z - step[:n], lam - step[n:]
            if not np.all(np.isfinite(z)):
                break
        if np.all(np.isfinite(z)) and np.linalg.norm(residual) < TOLERANCE * max(
            1.0, np.linalg.norm(z)
        ):
            return z / z[np.argmax(np.abs(z))]
    return None
