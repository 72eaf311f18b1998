"""Stage 2b: the configuration matrix, and the checks it implies.

Each equation must be homogeneous in every factor's coordinates; its degrees
form one column of the configuration matrix (rows = factors).  The manifold
must have dimension >= 1 and, unless explicitly allowed, vanishing first Chern
class: for every factor a, sum_k deg_a(p_k) = n_a + 1.
"""

from __future__ import annotations

import sympy as sp

from cygen.compiler.lower import LoweredManifold
from cygen.core.errors import CygenError


def equation_degrees(model: LoweredManifold, index: int) -> tuple[int, ...]:
    """The multidegree of equation ``index``; raises if it is not multihomogeneous."""
    expr = model.equations[index]
    span = model.equation_spans[index]
    coords = [c for f in model.factors for c in f.coords]
    if expr == 0:
        raise CygenError("equation is identically zero", span=span)
    monoms = sp.Poly(expr, *coords).monoms()
    degrees = []
    for f in model.factors:
        found = sorted({sum(m[f.offset : f.offset + f.dim + 1]) for m in monoms})
        if len(found) != 1:
            names = f"{f.coords[0]}..{f.coords[-1]}"
            raise CygenError(
                f"equation is not homogeneous in factor P{f.dim}[{f.prefix}]: it has terms of "
                f"degrees {', '.join(map(str, found))} in {names}",
                span=span,
            )
        degrees.append(found[0])
    return tuple(degrees)


def configuration_matrix(
    model: LoweredManifold, *, allow_non_cy: bool = False
) -> tuple[tuple[int, ...], ...]:
    """The configuration matrix (rows = factors, columns = equations), checked."""
    columns = [equation_degrees(model, k) for k in range(len(model.equations))]
    matrix = tuple(tuple(col[a] for col in columns) for a in range(len(model.factors)))
    for k, col in enumerate(columns):
        if not any(col):
            raise CygenError("equation is a nonzero constant: the variety is empty",
                             span=model.equation_spans[k])
    dimension = sum(f.dim for f in model.factors) - len(columns)
    if dimension < 1:
        raise CygenError(
            f"dimension {dimension} < 1: {len(columns)} equations in an ambient space of "
            f"dimension {sum(f.dim for f in model.factors)}",
            span=model.equation_spans[-1],
        )
    if not allow_non_cy:
        for f, row, span in zip(model.factors, matrix, model.factor_spans, strict=True):
            if sum(row) != f.dim + 1:
                raise CygenError(
                    f"not Calabi-Yau (c1 != 0): the degrees in P{f.dim}[{f.prefix}] sum to "
                    f"{sum(row)}, but must sum to n + 1 = {f.dim + 1} "
                    "(use --allow-non-cy to compile anyway)",
                    span=span,
                )
    return matrix
