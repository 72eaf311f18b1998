"""Stage 2f: the Fubini-Study reference metric on the ambient space.

K = sum_a (t_a / pi) log ||z^(a)||^2 and g_{m nbar} = d^2 K / dz_m dzbar_n (z and zbar
independent: Wirtinger calculus), written down in closed form: for m, n in factor a,
g_{m nbar} = (t_a / pi) (delta_mn r_a - zbar_m z_n) / r_a^2 with r_a = ||z^(a)||^2, and 0
between factors (the same sympy expressions that differentiating K and ``together`` give,
tested, without their cost).  The chart metric is the pullback P G P^dagger done at run
time, with P from the implicit function theorem.
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
    factor_of = {f.offset + i: (a, f) for a, f in enumerate(factors) for i in range(f.dim + 1)}
    norms = [sp.Add(*(z * conj[f.offset + i] for i, z in enumerate(f.coords))) for f in factors]
    entries = []
    for m in range(len(coords)):
        for n in range(len(coords)):
            (a, _), (b, _) = factor_of[m], factor_of[n]
            if a != b:
                entries.append(sp.Integer(0))
                continue
            numerator = (norms[a] if m == n else 0) - conj[m] * coords[n]
            # one n-ary Mul, as ``together`` writes it (t * (a + b) would distribute t)
            entries.append(sp.Mul(kahler[a], numerator, 1 / (sp.pi * norms[a] ** 2)))
    return entries
