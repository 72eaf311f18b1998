"""``generic(d1, ..., dm; seed=S)``: a dense polynomial with seeded random coefficients.

The polynomial has every monomial of multidegree (d1, ..., dm) in the
factors' coordinates.  Its coefficients are complex Gaussians of unit variance
(E|c|^2 = 1), made reproducible across machines, operating systems and
versions of numpy/sympy by deriving each one from SHA-256 alone:

    key    = "cygen.generic.v1|seed=S|eq=k|exponents=e0,e1,...,eN"
    digest = sha256(key)                      (k = 0-based index of the equation)
    u1, u2 = the first two 64-bit big-endian words of digest, mapped to (0, 1]
    c      = sqrt(-log u1) * (cos 2 pi u2 + i sin 2 pi u2)      (Box-Muller)

and then rounded to 6 decimals, real and imaginary part separately, into an
exact sympy Rational.  The rounding makes the result independent of the
platform's libm (last-ulp differences cannot move a 6-decimal rounding except
at exact ties, which have probability ~1e-10 per coefficient).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

import sympy as sp

from cygen.compiler.monomials import multidegree_monomials

_SCALE = 10**6


def coefficient(seed: int, equation: int, exponents: Sequence[int]) -> sp.Expr:
    """The seeded complex Gaussian coefficient of one monomial (see module docstring)."""
    key = f"cygen.generic.v1|seed={seed}|eq={equation}|exponents={','.join(map(str, exponents))}"
    digest = hashlib.sha256(key.encode("ascii")).digest()
    w1 = int.from_bytes(digest[0:8], "big")
    w2 = int.from_bytes(digest[8:16], "big")
    u1 = (w1 + 1) / 2.0**64
    u2 = w2 / 2.0**64
    radius = math.sqrt(-math.log(u1))
    re = round(radius * math.cos(2 * math.pi * u2) * _SCALE)
    im = round(radius * math.sin(2 * math.pi * u2) * _SCALE)
    return sp.Rational(re, _SCALE) + sp.I * sp.Rational(im, _SCALE)


def generic_polynomial(
    factor_coords: Sequence[Sequence[sp.Symbol]],
    degrees: Sequence[int],
    seed: int,
    equation: int,
) -> sp.Expr:
    """The dense polynomial of multidegree ``degrees`` in the given factors' coordinates."""
    coords = [c for group in factor_coords for c in group]
    terms = []
    for exps in multidegree_monomials([len(c) for c in factor_coords], degrees):
        monomial = sp.Mul(*(c**e for c, e in zip(coords, exps, strict=True) if e))
        terms.append(coefficient(seed, equation, exps) * monomial)
    return sp.Add(*terms)
