"""Is the member singular?  A numerical search for a singular point, at compile time.

On a smooth X the Jacobian of the equations has full rank K everywhere.  At a singular
point some combination sum_k lambda_k dp_k vanishes.  Random points are put on X by
Newton's method (minimum-norm steps) and, from those with the worst-conditioned Jacobians,
Gauss-Newton solves

    p(z) = 0,   J(z)^T lambda = 0,   <c_a, z_a> = 1 (each factor),   <e, lambda> = 1;

a solution with a residual at rounding level is a singular point (smooth manifolds have
none, so a converging iteration is never a false alarm; a missed singular point is
possible in principle, as in any numerical search).  The equations, their Jacobian and
Hessian are the IR's sympy expressions evaluated with NumPy (``lambdify``): no jax.  The
result is a compile-time fact of the module (``SPEC["singular_point"]``): ``cygen info``
reports it and ``cygen sample`` refuses a singular member.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import sympy as sp

__all__ = ["find_singular_point"]

STARTS = 128  # random points put on X
CANDIDATES = 16  # of which the worst-conditioned are tried
PROJECTION_STEPS = 60
ITERATIONS = 40
STALL = 15  # iterations after which a residual above 1e-3 means no convergence
TOLERANCE = 1e-10


class _Polynomials:
    """Polynomials as exponent and coefficient tables, with their first and second
    derivatives evaluated by NumPy for many points at once (exact tables: no symbolic
    differentiation or code generation).  The derivative of c z^e is a table of the same
    shape: exponents e - e_i (- e_j) and coefficients c e_i (e_j - delta_ij)."""

    def __init__(self, equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol]) -> None:
        n = len(coords)
        eye = np.eye(n, dtype=int)
        self.tables = []
        for p in equations:
            poly = sp.Poly(sp.expand(p), *coords)
            e = np.array([m for m, _ in poly.terms()], int).reshape(-1, n)  # (T, N)
            c = np.array([complex(x) for _, x in poly.terms()], complex)  # (T,)
            ej = e[None] - eye[:, None, :]  # (N, T, N)
            cj = c[None] * e.T  # (N, T)
            eh = ej[:, None] - eye[None, :, None, :]  # (N, N, T, N)
            ch = cj[:, None] * (e.T[None] - eye[:, :, None])  # (N, N, T)
            self.tables.append(((e, c), (ej, cj), (eh, ch)))

    @staticmethod
    def _apply(z: np.ndarray, exps: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """sum_t coef_t z^exps_t for points z (M, N): shape (M, *coef.shape[:-1]); terms
        whose exponent went negative (a derivative of a lower power) have coefficient 0."""
        powers = z.reshape((len(z),) + (1,) * (exps.ndim - 1) + z.shape[1:]) ** np.maximum(
            exps, 0)
        return np.sum(np.prod(powers, axis=-1) * np.where(np.all(exps >= 0, -1), coef, 0),
                      axis=-1)

    def values(self, z: np.ndarray) -> np.ndarray:
        return np.stack([self._apply(z, *t[0]) for t in self.tables], axis=1)

    def jacobian(self, z: np.ndarray) -> np.ndarray:
        return np.stack([self._apply(z, *t[1]) for t in self.tables], axis=1)

    def hessian(self, z: np.ndarray) -> np.ndarray:
        return np.stack([self._apply(z, *t[2]) for t in self.tables], axis=1)


def _normalize(z: np.ndarray, offsets, sizes) -> np.ndarray:
    parts = []
    for o, s in zip(offsets, sizes, strict=True):
        block = z[:, o : o + s]
        big = block[np.arange(len(z)), np.argmax(np.abs(block), axis=1)]
        parts.append(block / big[:, None])
    return np.concatenate(parts, axis=1)


def find_singular_point(equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol],
                        sizes: Sequence[int], seed_text: str) -> np.ndarray | None:
    """A singular point of {equations = 0} in the product of projective spaces with
    ``sizes`` coordinates per factor, or None if none is found (deterministic for a given
    ``seed_text``, e.g. the source hash)."""
    k, n = len(equations), len(coords)
    polys = _Polynomials(equations, coords)
    eq, jac, hess = polys.values, polys.jacobian, polys.hessian
    offsets = np.cumsum([0, *sizes[:-1]])
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8],
                                               "big"))
    z = rng.normal(size=(STARTS, n)) + 1j * rng.normal(size=(STARTS, n))
    for _ in range(PROJECTION_STEPS):
        residual = eq(z)
        if np.all(np.abs(residual) < 1e-13):
            break
        z = _normalize(z - np.einsum("bmk,bk->bm", np.linalg.pinv(jac(z)), residual),
                       offsets, sizes)
    on_x = np.all(np.isfinite(z), axis=1)
    on_x[on_x] &= np.max(np.abs(eq(z[on_x])), axis=1) < 1e-8
    z = z[on_x]
    if len(z) == 0:
        return None
    sv = np.linalg.svd(jac(z), compute_uv=False)
    worst = np.argsort(sv[:, -1] / np.max(sv, axis=1))[:CANDIDATES]
    return _gauss_newton(z[worst], eq, jac, hess, offsets, sizes, k)


def _system(z, lam, c, e, eq, jac, hess, offsets, sizes):
    """The residuals (B, R) of the singular-point system and their Jacobian (B, R, N + K)
    for B candidates at once."""
    b, n = z.shape
    j = jac(z)  # (B, K, N)
    k = j.shape[1]
    residual = [eq(z), np.einsum("bkm,bk->bm", j, lam)]
    rows = [np.concatenate([j, np.zeros((b, k, k))], axis=2),
            np.concatenate([np.einsum("bk,bkmn->bmn", lam, hess(z)),
                            np.swapaxes(j, 1, 2)], axis=2)]
    for ca, o, size in zip(c, offsets, sizes, strict=True):
        residual.append(np.sum(ca * z[:, o : o + size], axis=1, keepdims=True) - 1)
        row = np.zeros((b, 1, n + k), complex)
        row[:, 0, o : o + size] = ca
        rows.append(row)
    residual.append(np.sum(e * lam, axis=1, keepdims=True) - 1)
    rows.append(np.concatenate([np.zeros((b, 1, n)), e[:, None, :]], axis=2))
    return np.concatenate(residual, axis=1), np.concatenate(rows, axis=1)


def _gauss_newton(z, eq, jac, hess, offsets, sizes, k: int) -> np.ndarray | None:
    """Solve the singular-point system from every candidate in ``z`` (B, N) at once
    (least-squares steps); the first candidate that converges, else None."""
    n = z.shape[1]
    c = [np.conj(z[:, o : o + s]) / np.sum(np.abs(z[:, o : o + s]) ** 2, axis=1, keepdims=True)
         for o, s in zip(offsets, sizes, strict=True)]
    lam = np.linalg.svd(np.swapaxes(jac(z), 1, 2))[2].conj()[:, -1]  # (B, K)
    e = np.conj(lam) / np.sum(np.abs(lam) ** 2, axis=1, keepdims=True)
    alive = np.ones(len(z), bool)
    norm = np.full(len(z), np.inf)
    with np.errstate(all="ignore"):
        for iteration in range(ITERATIONS):
            residual, matrix = _system(z, lam, c, e, eq, jac, hess, offsets, sizes)
            norm = np.where(alive, np.linalg.norm(residual, axis=1), np.inf)
            step = np.einsum("bmr,br->bm", np.linalg.pinv(matrix), residual)
            z, lam = z - step[:, :n], lam - step[:, n:]
            # diverged, or not converging (the usual case on a smooth X)
            alive &= np.all(np.isfinite(z), axis=1) & ~((iteration >= STALL) & (norm > 1e-3))
            if not alive.any():
                return None
            z, lam = np.where(alive[:, None], z, 1.0), np.where(alive[:, None], lam, 1.0)
    scale = np.maximum(1.0, np.linalg.norm(z, axis=1))
    converged = np.flatnonzero(alive & (norm < TOLERANCE * scale))
    if len(converged) == 0:
        return None
    found = z[converged[0]]
    return found / found[np.argmax(np.abs(found))]
