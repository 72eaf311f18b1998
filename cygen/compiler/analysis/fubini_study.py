"""Stage 2f: the Fubini-Study reference metric on the ambient space.

K = sum_a (t_a / pi) log ||z^(a)||^2 and g_{m nbar} = d^2 K / dz_m dzbar_n,
computed with sympy treating z and zbar as independent variables (Wirtinger
calculus).  The chart metric is the pullback P G P^dagger done at run time,
with P from the implicit function theorem.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from cygen.compiler.ir import Factor


def kahler_potential(
    factors: Sequence[Factor], conj: Sequence[sp.Symbol], kahler: Sequence[sp.Expr]
) -> sp.Expr:
    """K = sum_a (t_a/pi) log sum_i z_i zbar_i."""
    terms = []
    for f, t in zip(factors, kahler, strict=True):
        norm = sp.Add(*(z * conj[f.offset + i] for i, z in enumerate(f.coords)))
        terms.append(t / sp.pi * sp.log(norm))
    return sp.Add(*terms)


def ambient_metric(
    factors: Sequence[Factor],
    coords: Sequence[sp.Symbol],
    conj: Sequence[sp.Symbol],
    kahler: Sequence[sp.Expr],
) -> list[sp.Expr]:
    """Row-major entries of G[m, n] = d_m dbar_n K on the ambient product space."""
    potential = kahler_potential(factors, conj, kahler)
    gradient = [sp.diff(potential, z) for z in coords]
    return [sp.together(sp.diff(g, zb)) for g in gradient for zb in conj]
