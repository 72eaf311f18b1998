"""Stage 2c: the holomorphic volume form and its admissible dependent sets.

In a chart whose dependent coordinates are S (|S| = K, one per equation) the
Poincaré residue gives the holomorphic volume form

    Omega = du_1 ^ ... ^ du_n / det(d p / d z_S),    |Omega|^2 = 1 / |det(dp/dz_S)|^2,

evaluated with each factor's affine coordinate set to 1.  A set S is
*admissible* when the K x K Jacobian minor det(dp/dz_S) is not the zero
polynomial; only those can serve as dependent coordinates.

The test is exact: first a structural one (no perfect matching between the
equations and S in the Jacobian's sparsity pattern means the minor vanishes
identically), then the minor is evaluated exactly at seeded random Gaussian
integer points (Schwartz-Zippel: a nonzero polynomial of degree D vanishes at
such a point with probability <= D / 2^20).  Minors that are nonzero as
polynomials but vanish on all of X would need membership in the ideal; they
cannot occur for smooth X with a chart there, and ``select_chart`` never picks
a minor that vanishes at the point anyway.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import sympy as sp
from sympy.polys.domains import QQ_I

_TRIALS = 3
_RANGE = 2**20


def jacobian_matrix(equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol]) -> sp.Matrix:
    """The K x N matrix of partial derivatives dp_k/dz_m (holomorphic)."""
    return sp.Matrix([[sp.diff(p, z) for z in coords] for p in equations])


def _has_matching(pattern: Sequence[Sequence[bool]]) -> bool:
    """Whether rows can be matched to distinct columns through True entries."""
    k = len(pattern)
    return any(all(pattern[r][c] for r, c in enumerate(perm))
               for perm in itertools.permutations(range(k)))


def admissible_dependent_sets(
    equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol]
) -> tuple[tuple[int, ...], ...]:
    """All K-subsets S of coordinates (sorted, lexicographic) with det(dp/dz_S) != 0."""
    k, n = len(equations), len(coords)
    polys = [sp.Poly(p, *coords, domain=QQ_I) for p in equations]
    derivs = [[p.diff(z) for z in coords] for p in polys]
    nonzero = [[not d.is_zero for d in row] for row in derivs]
    rng = random.Random(20_240_601)
    points = []
    for _ in range(_TRIALS):
        values = tuple(
            sp.Integer(rng.randrange(-_RANGE, _RANGE)) + sp.I * rng.randrange(-_RANGE, _RANGE)
            for _ in coords
        )
        points.append(sp.Matrix([[d.eval(values) if n > 1 else d.eval(values[0])
                                  for d in row] for row in derivs]))
    admissible = []
    for subset in itertools.combinations(range(n), k):
        if not _has_matching([[row[j] for j in subset] for row in nonzero]):
            continue
        if any(sp.expand(p[:, list(subset)].det(method="berkowitz")) != 0 for p in points):
            admissible.append(subset)
    return tuple(admissible)
