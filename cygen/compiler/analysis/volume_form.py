"""Stage 2c: the holomorphic volume form and its admissible dependent sets.

In a chart whose dependent coordinates are S (|S| = K, one per equation) the
Poincaré residue gives the holomorphic volume form

    Omega = du_1 ^ ... ^ du_n / det(d p / d z_S),    |Omega|^2 = 1 / |det(dp/dz_S)|^2,

evaluated with each factor's affine coordinate set to 1.  A set S is
*admissible* when the K x K Jacobian minor det(dp/dz_S) is not the zero
polynomial; only those can serve as dependent coordinates.

The test is exact and one-sided: every minor is evaluated at seeded random points in
the prime field GF(P), P = 2147483029 (a prime below 2^31 with P = 1 mod 4, so that i is an
element of it), by Gaussian elimination mod P, batched over all K-subsets with numpy
integers.  A minor that vanishes identically vanishes mod P at every point, so no
inadmissible set is ever accepted; a nonzero minor of degree D vanishes at a random point
with probability <= D / P (Schwartz-Zippel), so it is wrongly dropped only if it vanishes
at all of the trial points (probability <= (D / P)^3), which would cost a chart, never
correctness.  Minors that are nonzero as polynomials but vanish on all of X would need
membership in the ideal; they cannot occur for smooth X with a chart there, and
``select_chart`` never picks a minor that vanishes at the point anyway.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import numpy as np
import sympy as sp
from sympy.polys.domains import QQ_I

_TRIALS = 3


def jacobian_matrix(equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol]) -> sp.Matrix:
    """The K x N matrix of partial derivatives dp_k/dz_m (holomorphic)."""
    return sp.Matrix([[sp.diff(p, z) for z in coords] for p in equations])


_P = 2_147_483_029  # prime, = 1 (mod 4)
_CHUNK = 20_000  # subsets per batched elimination


def _sqrt_minus_one() -> int:
    for g in range(2, 100):
        root = pow(g, (_P - 1) // 4, _P)
        if root * root % _P == _P - 1:
            return root
    raise AssertionError("P is not 1 mod 4")


def _to_field(c, i_p: int) -> int:
    """A Gaussian rational of QQ_I as an element of GF(P)."""
    def rational(q) -> int:
        return int(q.numerator) % _P * pow(int(q.denominator) % _P, -1, _P) % _P
    return (rational(c.x) + i_p * rational(c.y)) % _P


def _evaluate(poly: sp.Poly, values: Sequence[int], i_p: int) -> int:
    total = 0
    for monom, coeff in poly.rep.to_dict().items():  # coefficients as QQ_I elements
        term = _to_field(coeff, i_p)
        for v, e in zip(values, monom, strict=True):
            if e:
                term = term * pow(v, e, _P) % _P
        total = (total + term) % _P
    return total


def _nonzero_dets(mats: np.ndarray) -> np.ndarray:
    """Whether det != 0 (mod P) for each of the (B, K, K) integer matrices (entries < P)."""
    m = mats.astype(np.int64) % _P
    b, k, _ = m.shape
    alive = np.ones(b, bool)
    rows = np.arange(b)
    for c in range(k):
        col = m[:, c:, c] != 0
        has = col.any(axis=1)
        alive &= has
        pivot = c + np.argmax(col, axis=1)
        swap = m[rows, pivot].copy()
        m[rows, pivot] = m[:, c]
        m[:, c] = swap
        inv = _power(m[:, c, c], _P - 2)
        factor = m[:, c + 1:, c] * inv[:, None] % _P  # (B, K - c - 1)
        m[:, c + 1:, :] = (m[:, c + 1:, :] - factor[:, :, None] * m[:, None, c, :] % _P) % _P
    return alive


def _power(x: np.ndarray, e: int) -> np.ndarray:
    result = np.ones_like(x)
    base = x % _P
    while e:
        if e & 1:
            result = result * base % _P
        base = base * base % _P
        e >>= 1
    return result


def admissible_dependent_sets(
    equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol]
) -> tuple[tuple[int, ...], ...]:
    """All K-subsets S of coordinates (sorted, lexicographic) with det(dp/dz_S) != 0."""
    k, n = len(equations), len(coords)
    polys = [sp.Poly(p, *coords, domain=QQ_I) for p in equations]
    derivs = [[p.diff(z) for z in coords] for p in polys]
    i_p = _sqrt_minus_one()
    rng = random.Random(20_240_601)
    jacobians = [np.array([[_evaluate(d, values, i_p) for d in row] for row in derivs],
                          np.int64)
                 for values in ([rng.randrange(_P) for _ in coords] for _ in range(_TRIALS))]
    subsets = np.array(list(itertools.combinations(range(n), k)), np.int64).reshape(-1, k)
    admissible = np.zeros(len(subsets), bool)
    for jac in jacobians:  # a set is admissible once its minor is nonzero at one point
        todo = np.flatnonzero(~admissible)
        for lo in range(0, len(todo), _CHUNK):
            part = todo[lo:lo + _CHUNK]
            mats = jac[:, subsets[part]].transpose(1, 0, 2)  # (B, K, K)
            admissible[part] = _nonzero_dets(mats)
    return tuple(tuple(int(j) for j in s) for s in subsets[admissible])
