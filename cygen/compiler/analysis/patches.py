"""Stage 2d: charts (patches) and the tables ``select_chart`` uses.

A chart is one affine coordinate per factor (set to 1) plus an admissible set
of K dependent coordinates disjoint from the affine ones.  Order (stable and
documented): affine choices in lexicographic order of (a_1, ..., a_m) with a_i
the global index of factor i's affine coordinate, then dependent sets in
lexicographic order.  Counts: torus 6, K3 12, quintic 20, bicubic 36,
Tian-Yau 288 (see docs/charts.md for the seed's "192").

``select_chart`` picks, per factor, the coordinate of largest modulus as the
affine one (mixed-radix index :func:`affine_index`), then among the admissible
dependent sets the one with the largest |det(dp/dz_S)|.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from cygen.compiler.ir import Chart, Charts, Factor


def affine_index(factors: Sequence[Factor], local: Sequence[int]) -> int:
    """Mixed-radix index of an affine choice, ``local[a]`` in 0..n_a for factor a."""
    index = 0
    for f, i in zip(factors, local, strict=True):
        index = index * (f.dim + 1) + i
    return index


def chart_count(factors: Sequence[Factor], dependent_sets: Sequence[tuple[int, ...]]) -> int:
    """The number of charts :func:`enumerate_charts` would build, without building them:
    for each affine choice, the dependent sets disjoint from it (bit masks, numpy)."""
    if not dependent_sets:
        return 0
    masks = np.zeros(len(dependent_sets), np.int64)
    for j in range(max(max(d) for d in dependent_sets) + 1):
        masks |= np.array([j in d for d in dependent_sets], np.int64) << j
    affine = np.zeros(1, np.int64)
    for f in factors:  # masks of every affine choice, factor by factor
        affine = (affine[:, None] | (np.int64(1) << (f.offset + np.arange(f.dim + 1)))[None, :]
                  ).ravel()
    total = 0
    rows = max(1, 2**22 // len(masks))  # bounded memory: rows x masks booleans at a time
    for lo in range(0, len(affine), rows):
        total += int(np.count_nonzero((affine[lo:lo + rows, None] & masks[None, :]) == 0))
    return total


def enumerate_charts(
    factors: Sequence[Factor], dependent_sets: Sequence[tuple[int, ...]]
) -> Charts:
    """All charts, in the documented order, with the select_chart lookup table."""
    n = sum(f.dim + 1 for f in factors)
    charts: list[Chart] = []
    lookup: list[tuple[int, ...]] = []
    for local in itertools.product(*(range(f.dim + 1) for f in factors)):
        affine = tuple(f.offset + i for f, i in zip(factors, local, strict=True))
        row = []
        for dep in dependent_sets:
            if set(dep) & set(affine):
                row.append(-1)
                continue
            free = tuple(j for j in range(n) if j not in affine and j not in dep)
            row.append(len(charts))
            charts.append(Chart(affine, tuple(dep), free))
        lookup.append(tuple(row))
    return Charts(tuple(charts), tuple(dependent_sets), tuple(lookup))
