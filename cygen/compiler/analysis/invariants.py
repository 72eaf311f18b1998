"""Stage 2f: invariant functions of the symmetry group, the inputs of symmetric networks.

A network potential phi on X is G-invariant if its inputs are.  The compiler lists them as
orbit sums of monomials of bidegree (k_a, k_a) in each factor a,

    F_O(z) = (1/|O|) sum_{(alpha, beta) in O} z^alpha zbar^beta / prod_a ||z^(a)||^(2 k_a),

one per orbit O of the permutation group P on the monomials that every phase generator
fixes (a monomial of non-zero phase charge averages to zero over the phase group, and the
group is P x| Phi with P pure permutations: :mod:`cygen.compiler.analysis.symmetries`).
F_O is real when O is closed under (alpha, beta) -> (beta, alpha); otherwise Re F_O and
Im F_O are two inputs and the conjugate orbit (which gives the same two) is skipped.  Each
F_O is a projectively invariant function on the ambient space, a polynomial in the
Hermitian features z_i zbar_j / ||z||^2 of :mod:`cygen.learn.models`.

Orbits are listed by total degree sum_a k_a = 1, 2, ... up to :data:`MAX_DEGREE`, a degree
kept only while the total numbers of terms and of real inputs stay within :data:`MAX_TERMS`
(the table is data in every generated module) and :data:`MAX_FEATURES` (the width of the
network's first layer).  The constant orbit sum_i |z_i|^2 / ||z||^2 of a whole factor is
left out, and so are its products over factors.  (Orbit sums that vanish on X because of
the equations are kept: their jets along X vanish, so they are dead inputs.)  With a trivial
group the orbits are single monomials; large groups have few invariants of low degree (on
the Fermat quintic every listed one, up to degree 6, is on X a function of the |z_i|^2
alone: docs/symmetries.md), which docs/benchmarks.md measures.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from cygen.compiler.ir import Factor, InvariantOrbit
from cygen.compiler.monomials import multidegree_monomials

__all__ = ["MAX_DEGREE", "MAX_FEATURES", "MAX_TERMS", "invariant_orbits"]

MAX_DEGREE = 6
MAX_TERMS = 2000
MAX_FEATURES = 256

Exponent = tuple[int, ...]
Term = tuple[Exponent, Exponent]


def _charge_free(term: Term, phase_gens: Sequence[Sequence[int]], denominator: int) -> bool:
    alpha, beta = term
    return all(sum(g * (a - b) for g, a, b in zip(gen, alpha, beta, strict=True))
               % denominator == 0 for gen in phase_gens)


def _moved(exp: Exponent, perm: Sequence[int]) -> Exponent:
    out = [0] * len(exp)
    for i, p in enumerate(perm):
        out[p] = exp[i]
    return tuple(out)


def _terms(factors: Sequence[Factor], degree: int) -> list[Term]:
    """Every (alpha, beta) of bidegree (k_a, k_a) per factor with sum k_a = ``degree``."""
    sizes = [f.dim + 1 for f in factors]
    out = []
    for ks in itertools.product(range(degree + 1), repeat=len(factors)):
        if sum(ks) == degree:
            monos = multidegree_monomials(sizes, ks)
            out += [(a, b) for a in monos for b in monos]
    return out


def _is_constant(orbit: Sequence[Term], factors: Sequence[Factor]) -> bool:
    """The orbit sum is a constant after normalisation: alpha = beta throughout and, for
    each per-factor degree (k_a) among its terms (permutations may exchange factors), every
    k_a <= 1 and the terms are all the products of one coordinate from each factor of
    degree 1 (the expansion of prod_a ||z^(a)||^(2 k_a))."""
    if any(a != b for a, b in orbit):
        return False
    groups: dict[tuple[int, ...], int] = {}
    for a, _ in orbit:
        ks = tuple(sum(a[f.offset : f.offset + f.dim + 1]) for f in factors)
        groups[ks] = groups.get(ks, 0) + 1
    return all(max(ks) <= 1 and count == math.prod(f.dim + 1 for f, k in
                                                   zip(factors, ks, strict=True) if k)
               for ks, count in groups.items())


def _orbits_of_degree(factors, perms, phase_gens, denominator, degree) -> list[InvariantOrbit]:
    out, seen = [], set()
    for term in _terms(factors, degree):
        if term in seen or not _charge_free(term, phase_gens, denominator):
            continue
        orbit = sorted({(_moved(term[0], p), _moved(term[1], p)) for p in perms}, reverse=True)
        conjugate = {(b, a) for a, b in orbit}
        seen.update(orbit)
        seen.update(conjugate)
        if not _is_constant(orbit, factors):
            out.append(InvariantOrbit(real=conjugate == set(orbit), terms=tuple(orbit)))
    return out


def invariant_orbits(factors: Sequence[Factor], perms: Sequence[Sequence[int]],
                     phase_gens: Sequence[Sequence[int]], denominator: int
                     ) -> tuple[int, tuple[InvariantOrbit, ...]]:
    """(the largest degree kept, the orbits of every kept degree), see the module docstring."""
    kept: list[InvariantOrbit] = []
    top, n_terms, n_features = 0, 0, 0
    for degree in range(1, MAX_DEGREE + 1):
        orbits = _orbits_of_degree(factors, perms, phase_gens, denominator, degree)
        size = sum(len(o.terms) for o in orbits)
        width = sum(1 if o.real else 2 for o in orbits)
        if n_terms + size > MAX_TERMS or n_features + width > MAX_FEATURES:
            break
        kept += orbits
        top, n_terms, n_features = degree, n_terms + size, n_features + width
    return top, tuple(kept)
