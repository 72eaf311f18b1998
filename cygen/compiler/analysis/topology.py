"""Exact topology of complete intersections in products of projective spaces (CICYs).

Conventions
-----------
``dims = (n_1, ..., n_m)`` gives the ambient space ``A = P^{n_1} x ... x P^{n_m}`` and
``matrix[a][k] = q_ak >= 0`` is the degree of equation ``k`` in the coordinates of factor ``a``
(rows = factors, columns = the ``K`` equations).  ``X`` is the intersection of ``K`` generic
hypersurfaces of these multidegrees; ``n = dim X = sum_a n_a - K``.  ``H_a`` is the pullback of
the hyperplane class of ``P^{n_a}`` and ``L_k = sum_a q_ak H_a``.  Classes are polynomials in the
``H_a`` in the ambient ring ``R = Z[H_1..H_m] / (H_a^{n_a+1})``, restricted to ``X``.

Formulas
--------
* ``c(TX) = prod_a (1 + H_a)^{n_a+1} / prod_k (1 + L_k)``  (truncated at degree ``n``).
* ``int_X w = [H_1^{n_1} ... H_m^{n_m}] (w * prod_k L_k)`` for ``w`` of degree ``n``; hence the
  intersection number ``int_X H^e`` (``|e| = n``) is the coefficient of ``H^{N-e}`` in
  ``prod_k L_k``, with ``N = (n_1, ..., n_m)``.
* ``euler = int_X c_n``;  ``c2_dot_J[a] = int_X c_2 H_a`` (threefolds only).
* ``volume = int_X J^n / n! = sum_{|e|=n} int_X H^e prod_a t_a^{e_a} / e_a!``, ``J = sum t_a H_a``.
* ``slice_degree(t) = int_X prod_a H_a^{n_a - t_a}`` = coefficient of ``H^t`` in ``prod_k L_k``.

Implementation: exponent vectors ``0 <= e <= N`` are flattened (C order) and a class is a
coefficient vector over them (see ``_Box``); multiplication by ``L_k`` is a gather through the
index maps ``e -> e - e_a`` and a small matrix-vector product.  ``c(TX)`` is computed on the
monomials of degree ``<= n`` only, dividing by each ``1 + L_k`` with Horner's scheme.
Arithmetic is exact: int64 when an a-priori bound (coefficients are majorised by the series
``(1+z)^{sum(n_a+1)} / prod_k (1 - s_k z)`` and by ``prod_k s_k``, ``s_k = sum_a q_ak``)
excludes overflow, Python integers (``dtype=object``) otherwise.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from cygen.compiler.ir import Topology

_INT64_SAFE = 2**62


def _validate(
    dims: Sequence[int], matrix: Sequence[Sequence[int]]
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...], int]:
    """Return ``(dims, columns, dimension)`` with ``columns[k][a] = q_ak``; raise ValueError."""
    n_a = tuple(operator.index(x) for x in dims)
    if not n_a:
        raise ValueError("need at least one projective factor")
    if any(x < 0 for x in n_a):
        raise ValueError(f"projective dimensions must be >= 0, got {n_a}")
    if len(matrix) != len(n_a):
        raise ValueError(f"matrix has {len(matrix)} rows but there are {len(n_a)} factors")
    rows = [tuple(operator.index(x) for x in row) for row in matrix]
    n_eq = len(rows[0])
    if any(len(row) != n_eq for row in rows):
        raise ValueError("matrix rows have different lengths")
    if any(x < 0 for row in rows for x in row):
        raise ValueError("degrees must be >= 0")
    dim = sum(n_a) - n_eq
    if dim < 0:
        raise ValueError(f"more equations ({n_eq}) than ambient dimension ({sum(n_a)})")
    return n_a, tuple(zip(*rows, strict=True)), dim


class _Box:
    """Flat (C-order) indexing of the exponent vectors ``0 <= e <= N`` of the ring ``R``.

    ``exps[:, i]`` is the exponent vector with flat index ``i = strides . e``; ``down[a, i]``
    is the index of ``e - e_a``, or the zero slot ``size`` when ``e_a = 0`` (and
    ``down[a, size] = size``).  A class is a vector ``v`` of length ``size + 1`` with
    ``v[size] = 0``; then ``(sum_a q_a H_a) v = q @ v[down]``.
    """

    def __init__(self, dims: tuple[int, ...]) -> None:
        shape = tuple(x + 1 for x in dims)
        self.size = math.prod(shape)
        self.exps = np.indices(shape).reshape(len(shape), self.size)
        self.strides = np.cumprod((1,) + shape[:0:-1])[::-1]
        self.down = np.full((len(shape), self.size + 1), self.size, dtype=np.intp)
        flat = np.arange(self.size)
        for a, stride in enumerate(self.strides):
            self.down[a, :-1] = np.where(self.exps[a] > 0, flat - stride, self.size)

    def complete_intersection(self, cols: tuple[tuple[int, ...], ...], dtype: type) -> np.ndarray:
        """``prod_k L_k`` as a class vector."""
        prod = np.zeros(self.size + 1, dtype=dtype)
        prod[0] = 1
        for q, gather in _linear_forms(cols, self.down, dtype):
            prod = q @ prod[gather]
        return prod


def _linear_forms(
    cols: tuple[tuple[int, ...], ...], down: np.ndarray, dtype: type
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(q, gather)`` per equation, so that ``L_k v = q @ v[gather]`` (zero forms skipped)."""
    forms = []
    for col in cols:
        support = [a for a, q in enumerate(col) if q]
        if support:
            forms.append((np.array([col[a] for a in support], dtype=dtype), down[support]))
    return forms


def _dtype(dims: tuple[int, ...], cols: tuple[tuple[int, ...], ...], dim: int) -> type:
    """int64 if all intermediate values provably fit, else ``object`` (Python ints).

    Setting every ``H_a = z``, the coefficients of the Chern class computation (degree <= dim)
    are majorised by those of ``g(z) = (1+z)^{sum(n_a+1)} / prod_k (1 - s_k z)`` with
    ``s_k = sum_a q_ak``, and those of ``prod_k L_k`` by ``prod_k s_k``.
    """
    series = [math.comb(sum(dims) + len(dims), j) for j in range(dim + 1)]
    for col in cols:  # divide by (1 - s z): majorant of 1 / (1 + L_k)
        s = sum(col)
        for j in range(1, dim + 1):
            series[j] += s * series[j - 1]
    bound = sum(series) * math.prod(sum(col) for col in cols if any(col))
    return np.int64 if bound < _INT64_SAFE else object


def compute_topology(dims: Sequence[int], matrix: Sequence[Sequence[int]]) -> Topology:
    """Chern classes, Euler number and intersection numbers of the configuration.

    Classes of degree <= dim are vectors over the basis of monomials ``H^e`` with
    ``|e| <= dim`` (sorted by degree) plus a zero slot, multiplied as in :class:`_Box`.
    """
    n_a, cols, dim = _validate(dims, matrix)
    m = len(n_a)
    dtype = _dtype(n_a, cols, dim)
    box = _Box(n_a)
    product = box.complete_intersection(cols, dtype)  # dual: int_X H^e = product[N - e]
    if any(not any(col) for col in cols):  # a nonzero constant equation: X is empty
        product[:] = 0

    degree = box.exps.sum(axis=0)
    basis = np.flatnonzero(degree <= dim)
    basis = basis[np.argsort(degree[basis], kind="stable")]
    size = len(basis)
    start = np.searchsorted(degree[basis], np.arange(dim + 2))
    lookup = np.full(box.size + 1, size, dtype=np.intp)
    lookup[basis] = np.arange(size)
    down = np.concatenate([lookup[box.down[:, basis]], np.full((m, 1), size)], axis=1)
    exps = box.exps[:, basis]

    # c(A) = prod_a (1 + H_a)^{n_a + 1}, then divide by each (1 + L_k) with Horner's scheme.
    chern = np.ones(size + 1, dtype=dtype)
    chern[size] = 0
    for a, x in enumerate(n_a):
        table = np.array([math.comb(x + 1, j) for j in range(min(x, dim) + 1)], dtype=dtype)
        chern[:size] *= table[exps[a]]
    for q, gather in _linear_forms(cols, down, dtype):
        quotient = chern
        for _ in range(dim):  # R <- C - L_k R
            quotient = chern - q @ quotient[gather]
        chern = quotient

    classes = []
    for i in range(1, dim + 1):
        terms = zip(
            map(tuple, exps[:, start[i] : start[i + 1]].T.tolist()),
            chern[start[i] : start[i + 1]].tolist(),
            strict=True,
        )
        classes.append(dict(sorted((e, int(c)) for e, c in terms if c)))
    top = slice(start[dim], size)
    dual = product[box.size - 1 - basis[top]]
    euler = int((chern[top] * dual).sum())
    c2_dot_j = None
    if dim == 3:
        c2_dot_j = tuple(int(x) for x in (chern[down[:, top]] * dual).sum(axis=1))

    keys = list(itertools.combinations_with_replacement(range(m), dim))
    factors = np.array(keys, dtype=np.intp).reshape(len(keys), dim)
    counts = (factors[:, :, None] == np.arange(m)).sum(axis=1)
    inside = (counts <= n_a).all(axis=1)
    values = product[np.where(inside, box.size - 1 - counts @ box.strides, box.size)]
    intersections = dict(zip(keys, values.tolist(), strict=True))
    return Topology(dim, euler, intersections, c2_dot_j, tuple(classes))


def volume(topology: Topology, kahler: Sequence[Fraction | int]) -> Fraction:
    """Exact ``int_X J^n / n!`` for ``J = sum_a kahler[a] H_a``."""
    t = [Fraction(x) for x in kahler]
    if topology.dimension > 0:
        n_factors = max(key[-1] for key in topology.intersections) + 1
        if len(t) != n_factors:
            raise ValueError(f"expected {n_factors} Kahler parameters, got {len(t)}")
    total = Fraction(0)
    for key, value in topology.intersections.items():
        if value:
            term = Fraction(value)
            for a, power in Counter(key).items():
                term *= t[a] ** power / math.factorial(power)
            total += term
    return total


def slope_targets(topology: Topology, kahler: Sequence[Fraction | int]) -> list[Fraction]:
    """Exact slopes ``int_X J^(n-1) ^ H_a`` per factor a, ``J = sum_b kahler[b] H_b``: the
    targets of the trainer's Kähler-class loss.  On a curve (n = 1) the slopes do not see the
    metric and the single target is ``int_X J``."""
    t = [Fraction(x) for x in kahler]
    n = topology.dimension
    numbers = topology.intersections
    if n == 1:
        return [sum((ta * numbers.get((a,), 0) for a, ta in enumerate(t)), Fraction(0))]
    out = []
    for a in range(len(t)):
        total = Fraction(0)
        for bs in itertools.product(range(len(t)), repeat=n - 1):
            value = numbers.get(tuple(sorted((*bs, a))), 0)
            if value:
                total += math.prod((t[b] for b in bs), start=Fraction(1)) * value
        out.append(total)
    return out


def slice_degree(dims: Sequence[int], matrix: Sequence[Sequence[int]], t: Sequence[int]) -> int:
    """Number of points of ``X`` on a generic product of linear subspaces of dimensions ``t``."""
    n_a, cols, _ = _validate(dims, matrix)
    t = tuple(operator.index(x) for x in t)
    if len(t) != len(n_a) or sum(t) != len(cols):
        raise ValueError(f"need one t_a per factor with sum(t) = K = {len(cols)}, got {t}")
    if any(not 0 <= x <= y for x, y in zip(t, n_a, strict=True)):
        raise ValueError(f"need 0 <= t_a <= n_a, got t={t}, dims={n_a}")
    box = _Box(n_a)
    code = int(np.ravel_multi_index(t, tuple(x + 1 for x in n_a)))
    return int(box.complete_intersection(cols, _dtype(n_a, cols, 0))[code])
