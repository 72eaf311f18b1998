"""Polynomial complex-structure deformations: a monomial basis, exactly, at the given member.

The equations p_k have multidegrees d_k.  Changing their coefficients moves the member in
its family; two changes give the same first-order deformation of X when they differ by

* an infinitesimal automorphism of the ambient space, ``delta p_k = sum z_i d p_k/d z_j``
  over pairs (i, j) of coordinates of one factor (gl(n_a + 1) for each P^{n_a}), or
* a redefinition of the equations, ``delta p_k = sum_l q_kl p_l`` with q_kl a polynomial of
  multidegree d_k - d_l (when that is non-negative).

The polynomial deformations are the quotient V / W of V = (polynomials of multidegree d_k)_k
by the span W of these, computed with exact linear algebra over the equations' coefficient
field (sympy ``DomainMatrix``, Q(i) for the DSL's numbers).  A basis of the quotient is
given by monomials ``(k, m)`` ("add t m to equation k"): the columns left without a pivot
when W (together with the declared parameters' directions dp/dt, which come first) is
brought to row echelon form with the monomials ordered lex-descending.  For the Fermat
quintic these are the 101 quintic monomials with every exponent at most 3; for the complete
intersections whose deformations are all polynomial their number is h^{2,1} (the quintic
101, the bicubic 83, P5[3,3] 73, the Tian–Yau cover 23).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.polys.constructor import construct_domain
from sympy.polys.matrices import DomainMatrix

from cygen.compiler.ir import Factor
from cygen.compiler.monomials import Exponent, multidegree_monomials

__all__ = ["Deformations", "polynomial_deformations"]


@dataclass(frozen=True)
class Deformations:
    """The polynomial deformations of a member (see the module docstring)."""

    count: int  # dim V/W: the number of polynomial deformations
    monomials: tuple[tuple[int, Exponent], ...]  # (equation, exponents) completing the declared
    declared_rank: int  # the declared parameters' directions independent modulo W
    trivial: int  # dim W: automorphisms and redefinitions (up to their own relations)


def _multidegree(exponents: Exponent, factors: Sequence[Factor]) -> tuple[int, ...]:
    return tuple(sum(exponents[f.offset : f.offset + f.dim + 1]) for f in factors)


def _poly_dict(expr: sp.Expr, coords) -> dict[Exponent, sp.Expr]:
    """{exponents: coefficient} of the nonzero terms (the zero polynomial: {})."""
    return {tuple(int(e) for e in m): c for m, c in sp.Poly(sp.expand(expr), *coords).terms()
            if c != 0}


def polynomial_deformations(equations: Sequence[sp.Expr], coords: Sequence[sp.Symbol],
                            factors: Sequence[Factor],
                            declared: Sequence[Sequence[sp.Expr]] = ()) -> Deformations:
    """The polynomial deformations of ``equations`` (exact coefficients) in the product of
    ``factors``; ``declared`` lists, per declared parameter, its dp_k/dt (k over the
    equations), the directions the monomial basis completes."""
    polys = [_poly_dict(p, coords) for p in equations]
    degrees = [_multidegree(next(iter(p)), factors) for p in polys]
    sizes = [f.dim + 1 for f in factors]
    columns = [(k, m) for k, d in enumerate(degrees) for m in multidegree_monomials(sizes, d)]
    index = {c: i for i, c in enumerate(columns)}
    trivial = _automorphisms(polys, coords, factors) + _redefinitions(polys, degrees, sizes)
    directions = [{(k, m): c for k, dp in enumerate(vec) for m, c in
                   _poly_dict(dp, coords).items()} for vec in declared]
    values = [v for row in trivial + directions for v in row.values()]
    domain, _ = construct_domain(values or [sp.Integer(0)], extension=True)
    rank_w = _rank(trivial, index, domain)
    rank_all, pivots = _echelon(trivial + directions, index, domain)
    basis = tuple(c for i, c in enumerate(columns) if i not in pivots)
    return Deformations(count=len(columns) - rank_w, monomials=basis,
                        declared_rank=rank_all - rank_w, trivial=rank_w)


def _automorphisms(polys, coords, factors) -> list[dict]:
    """delta p_k = z_i d p_k / d z_j for coordinates i, j of one factor, as vectors."""
    rows = []
    for f in factors:
        block = range(f.offset, f.offset + f.dim + 1)
        for i in block:
            for j in block:
                row = {}
                for k, p in enumerate(polys):
                    for m, c in p.items():
                        if m[j] == 0:
                            continue
                        e = list(m)
                        e[j] -= 1
                        e[i] += 1
                        key = (k, tuple(e))
                        row[key] = row.get(key, 0) + c * m[j]
                rows.append({key: v for key, v in row.items() if v != 0})
    return rows


def _redefinitions(polys, degrees, sizes) -> list[dict]:
    """delta p_k = q p_l for monomials q of multidegree d_k - d_l (when non-negative)."""
    rows = []
    for k, dk in enumerate(degrees):
        for l, dl in enumerate(degrees):
            shift = [a - b for a, b in zip(dk, dl, strict=True)]
            if min(shift) < 0:
                continue
            for q in multidegree_monomials(sizes, shift):
                rows.append({(k, tuple(a + b for a, b in zip(m, q, strict=True))): c
                             for m, c in polys[l].items()})
    return rows


def _matrix(rows: list[dict], index: dict, domain) -> DomainMatrix:
    dense = [[domain.zero] * len(index) for _ in rows]
    for r, row in enumerate(rows):
        for key, value in row.items():
            dense[r][index[key]] = domain.from_sympy(sp.sympify(value))
    return DomainMatrix(dense, (len(rows), len(index)), domain)


def _rank(rows: list[dict], index: dict, domain) -> int:
    return _echelon(rows, index, domain)[0]


def _echelon(rows: list[dict], index: dict, domain) -> tuple[int, set[int]]:
    """(rank, pivot columns) of the rows' row echelon form (columns in ``index`` order)."""
    if not rows:
        return 0, set()
    _, pivots = _matrix(rows, index, domain).rref()
    return len(pivots), set(pivots)
