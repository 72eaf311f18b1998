"""The one monomial enumerator: exponent vectors of a given (multi)degree, in a fixed order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

__all__ = ["monomials", "multidegree_monomials"]

Exponent = tuple[int, ...]


def monomials(n_vars: int, degree: int) -> list[Exponent]:
    """All exponent vectors of ``n_vars`` variables of total ``degree``, lex-descending
    ((degree, 0, ..., 0) first)."""
    out = []
    for combo in itertools.combinations_with_replacement(range(n_vars), degree):
        e = [0] * n_vars
        for i in combo:
            e[i] += 1
        out.append(tuple(e))
    return sorted(out, reverse=True)


def multidegree_monomials(sizes: Sequence[int], degrees: Sequence[int]) -> list[Exponent]:
    """Exponent vectors over all factors' coordinates (``sizes[a]`` coordinates of factor a,
    concatenated) of multidegree ``degrees``: the product of :func:`monomials` per factor."""
    per_factor = [monomials(s, d) for s, d in zip(sizes, degrees, strict=True)]
    return [sum(parts, ()) for parts in itertools.product(*per_factor)]
