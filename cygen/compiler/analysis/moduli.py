"""Stage 2h: complex-structure moduli.  Every declared ``param`` is a modulus t; with
``deformations="all"`` the polynomial deformations of the member are added, as monomials m
added to one equation (p_k -> p_k + t m, :mod:`cygen.compiler.analysis.deformations`).

For each direction a the compiler emits, exactly, dp/dt_a (one polynomial per equation, at
the member) and its derivatives in the coordinates d^2 p / dz dt_a: all the runtime
(:mod:`cygen.geometry.moduli`) needs besides the equations' own Jacobian to build the
Kodaira-Spencer representative of each direction and integrate the Weil-Petersson metric
and the Yukawa couplings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from cygen.compiler.analysis.deformations import Deformations, polynomial_deformations
from cygen.compiler.ir import Factor, Kernel
from cygen.compiler.kernels import make_kernel
from cygen.core.errors import CygenError

__all__ = ["DEFORMATION_MODES", "Moduli", "analyse_moduli", "monomial_name"]

DEFORMATION_MODES = ("declared", "all")


@dataclass(frozen=True)
class Moduli:
    """The directions of moduli space a module differentiates in (declared parameters
    first, then, with ``mode == "all"``, the monomial deformations)."""

    mode: str
    names: tuple[str, ...]
    declared: int  # the first ``declared`` directions are parameters of the .cy file
    not_moduli: tuple[str, ...]  # parameters that enter where no modulus may (an exponent)
    dp_dt: Kernel  # (T, K)
    d2p_dzdt: Kernel  # (T, K, N)
    deformations: Deformations | None  # the polynomial deformations (mode "all" only)


def monomial_name(equation: int, exponents: Sequence[int], coords: Sequence[sp.Symbol]) -> str:
    """``"eq2: x0^2*y1"``: monomial deformation of equation 2 (1-based, as in the file)."""
    factors = [f"{c}^{e}" if e > 1 else str(c) for c, e in zip(coords, exponents, strict=True)
               if e > 0]
    return f"eq{equation + 1}: " + ("*".join(factors) or "1")


def _monomial(exponents: Sequence[int], coords: Sequence[sp.Symbol]) -> sp.Expr:
    return sp.Mul(*(c**e for c, e in zip(coords, exponents, strict=True)))


def analyse_moduli(
    params: Sequence[tuple[str, sp.Expr]],
    derivatives: Sequence[Sequence[sp.Expr] | None],
    equations: Sequence[sp.Expr],
    coords: Sequence[sp.Symbol],
    conj: Sequence[sp.Symbol],
    factors: Sequence[Factor],
    mode: str = "declared",
) -> Moduli:
    """The moduli of a member: its declared parameters (and, for ``mode="all"``, a basis of
    its polynomial deformations completing them) with their exact derivative kernels."""
    if mode not in DEFORMATION_MODES:
        raise CygenError(f"--deformations must be one of {', '.join(DEFORMATION_MODES)}, "
                         f"not {mode!r}")
    names, directions, skipped = [], [], []
    for (name, _), dp in zip(params, derivatives, strict=True):
        if dp is None:
            skipped.append(name)
            continue
        names.append(name)
        directions.append(tuple(dp))
    declared = len(names)
    deformations = None  # exact linear algebra on every monomial: only when asked for
    if mode == "all":
        deformations = polynomial_deformations(equations, coords, factors, directions)
        for k, exponents in deformations.monomials:
            names.append(monomial_name(k, exponents, coords))
            directions.append(tuple(_monomial(exponents, coords) if j == k else sp.Integer(0)
                                    for j in range(len(equations))))
    k_eq, n = len(equations), len(coords)
    flat = [p for row in directions for p in row]
    second = [sp.diff(p, z) for p in flat for z in coords]
    return Moduli(
        mode=mode,
        names=tuple(names),
        declared=declared,
        not_moduli=tuple(skipped),
        dp_dt=make_kernel("dp_dt", flat, (len(directions), k_eq), conj),
        d2p_dzdt=make_kernel("d2p_dzdt", second, (len(directions), k_eq, n), conj),
        deformations=deformations,
    )
