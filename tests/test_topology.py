"""Tests for :mod:`cygen.topology`: known manifolds, the full CICY list, properties."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cygen.compiler.analysis import topology
from cygen.compiler.analysis.topology import compute_topology, slice_degree, volume
from cygen.compiler.ir import Polynomial, Topology
from cygen.evaluate.survey import load_list

TIAN_YAU = ([3, 3], [[3, 0, 1], [0, 3, 1]])
SCHOEN = ([2, 1, 2], [[3, 0], [1, 1], [0, 3]])

# name, dims, matrix, euler, c2_dot_J, intersections (None: not checked)
KNOWN = [
    ("quintic", [4], [[5]], -200, (50,), {(0, 0, 0): 5}),
    ("K3 quartic", [3], [[4]], 24, None, {(0, 0): 4}),
    ("cubic torus", [2], [[3]], 0, None, {(0,): 3}),
    (
        "bicubic",
        [2, 2],
        [[3], [3]],
        -162,
        (36, 36),
        {(0, 0, 0): 0, (0, 0, 1): 3, (0, 1, 1): 3, (1, 1, 1): 0},
    ),
    (
        "Tian-Yau",
        *TIAN_YAU,
        -18,
        (36, 36),
        {(0, 0, 0): 0, (0, 0, 1): 9, (0, 1, 1): 9, (1, 1, 1): 0},
    ),
    ("P5[3,3]", [5], [[3, 3]], -144, (54,), {(0, 0, 0): 9}),
    # CICY #14 is the same configuration with the factors ordered (P1, P2, P2): c2.J = (0, 36, 36)
    ("Schoen", *SCHOEN, 0, (36, 0, 36), None),
]


@pytest.mark.parametrize(("name", "dims", "matrix", "euler", "c2", "inter"), KNOWN)
def test_known(name, dims, matrix, euler, c2, inter) -> None:
    top = compute_topology(dims, matrix)
    assert top.dimension == sum(dims) - len(matrix[0])
    assert top.euler == euler, name
    assert top.c2_dot_J == c2, name
    assert top.chern_classes[0] == {}, f"{name} is Calabi-Yau"
    if inter is not None:
        assert top.intersections == inter
        assert list(top.intersections) == sorted(top.intersections)


def test_quintic_details() -> None:
    top = compute_topology([4], [[5]])
    assert top.chern_classes == ({}, {(2,): 10}, {(3,): -40})
    assert volume(top, [1]) == Fraction(5, 6)
    assert volume(top, [Fraction(1, 2)]) == Fraction(5, 48)
    assert slice_degree([4], [[5]], (1,)) == 5


def test_tian_yau_slices_and_volume() -> None:
    assert slice_degree(*TIAN_YAU, (1, 2)) == 9
    assert slice_degree(*TIAN_YAU, (2, 1)) == 9
    assert slice_degree(*TIAN_YAU, (0, 3)) == 0
    # J^3/6 with d_001 = d_011 = 9: (3 * 9 t1^2 t2 + 3 * 9 t1 t2^2) / 6
    assert volume(compute_topology(*TIAN_YAU), [1, 2]) == Fraction(27 * 2 + 27 * 4, 6)


def test_non_calabi_yau() -> None:
    # P^2 itself (no equations): c = (1 + H)^3, euler 3, and a conic is a P^1.
    p2 = compute_topology([2], [[]])
    assert p2.chern_classes == ({(1,): 3}, {(2,): 3})
    assert (p2.euler, p2.intersections) == (3, {(0, 0): 1})
    conic = compute_topology([2], [[2]])
    assert (conic.euler, conic.chern_classes, conic.intersections) == (2, ({(1,): 1},), {(0,): 2})
    # P^1 x P^1 as the quadric surface in P^3 and as the product (no equations).
    assert compute_topology([3], [[2]]).euler == compute_topology([1, 1], [[], []]).euler == 4
    # Zero-dimensional: the 4 points of two conics in P^2.
    points = compute_topology([2], [[2, 2]])
    assert (points.dimension, points.euler, points.intersections) == (0, 4, {(): 4})
    assert points.chern_classes == () and volume(points, [7]) == 4


def test_degree_zero_equation_gives_empty_set() -> None:
    top = compute_topology([1, 2], [[2, 0], [0, 0]])
    assert top.euler == 0 and set(top.intersections.values()) == {0}
    assert slice_degree([1, 2], [[2, 0], [0, 0]], (1, 1)) == 0


@pytest.mark.parametrize(
    ("dims", "matrix"),
    [
        ([], []),
        ([-1], [[]]),
        ([4], [[5], [1]]),
        ([2, 2], [[1, 1], [1]]),
        ([1], [[1, 1]]),
        ([4], [[-1]]),
    ],
)
def test_compute_topology_rejects(dims, matrix) -> None:
    with pytest.raises(ValueError):
        compute_topology(dims, matrix)


@pytest.mark.parametrize("t", [(1, 1), (0, 3), (4, -1), (1,), (1, 2, 0)])
def test_slice_degree_rejects(t) -> None:
    dims, matrix = ([3, 2], [[3, 0, 1], [0, 3, 1]])  # K = 3; (0, 3) has t_2 > n_2
    with pytest.raises(ValueError):
        slice_degree(dims, matrix, t)


def test_volume_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        volume(compute_topology(*TIAN_YAU), [1])


def test_full_cicy_list() -> None:
    """Euler number and c2.J_a of all 7890 CICY threefolds against the Oxford list (the copy
    shipped with cygen)."""
    entries = load_list()
    assert len(entries) == 7890
    bad_euler, bad_c2, not_cy = [], [], []
    start = time.perf_counter()
    for entry in entries:
        top = compute_topology(entry["ambient"], entry["matrix"])
        if top.euler != entry["euler"] or (
            not entry["product"] and top.euler != 2 * (entry["h11"] - entry["h21"])
        ):
            bad_euler.append((entry["id"], top.euler, entry["euler"]))
        if list(top.c2_dot_J) != entry["c2_dot_J"]:
            bad_c2.append((entry["id"], top.c2_dot_J, entry["c2_dot_J"]))
        if top.chern_classes[0] or min(top.intersections.values()) < 0:
            not_cy.append(entry["id"])
    elapsed = time.perf_counter() - start
    assert not bad_euler, f"euler mismatches (id, ours, list): {bad_euler[:20]}"
    assert not bad_c2, f"c2.J mismatches (id, ours, list): {bad_c2[:20]}"
    assert not not_cy, f"c1 != 0 or negative intersection numbers: {not_cy[:20]}"
    print(f"7890 CICYs in {elapsed:.1f} s")


# ---------------------------------------------------------------- property tests


@st.composite
def configurations(draw: st.DrawFn, max_factors: int = 3, max_dim: int = 3) -> tuple:
    """Arbitrary (not necessarily Calabi-Yau) configurations of dimension <= 4."""
    dims = draw(st.lists(st.integers(1, max_dim), min_size=1, max_size=max_factors))
    n_eq = draw(st.integers(max(0, sum(dims) - 4), sum(dims)))
    row = st.lists(st.integers(0, 3), min_size=n_eq, max_size=n_eq)
    return dims, draw(st.lists(row, min_size=len(dims), max_size=len(dims)))


@st.composite
def cy_configurations(draw: st.DrawFn) -> tuple:
    """Calabi-Yau configurations (row sums n_a + 1) of dimension 1..3."""
    dims = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4).filter(lambda d: sum(d) > 1))
    n_eq = draw(st.integers(max(1, sum(dims) - 3), sum(dims) - 1))
    matrix = []
    for n in dims:  # a random composition of n + 1 into n_eq nonnegative parts
        cuts = sorted(draw(st.lists(st.integers(0, n + 1), min_size=n_eq - 1, max_size=n_eq - 1)))
        matrix.append([b - a for a, b in itertools.pairwise([0, *cuts, n + 1])])
    return dims, matrix


def _mul(p: Polynomial, q: Polynomial) -> Polynomial:
    out: Counter = Counter()
    for (e, x), (f, y) in itertools.product(p.items(), q.items()):
        out[tuple(a + b for a, b in zip(e, f, strict=True))] += x * y
    return dict(out)


def _integrate(top: Topology, p: Polynomial) -> int:
    """int_X of a degree-n class given in the H_a (exponents beyond n_a integrate to 0)."""
    return sum(
        c * top.intersections[tuple(a for a, k in enumerate(e) for _ in range(k))]
        for e, c in p.items()
    )


def _reference(dims: list[int], matrix: list[list[int]]) -> tuple[int, list, dict]:
    """Independent dict-polynomial computation: (euler, [c_1..c_n], intersections)."""
    m, n_eq = len(dims), len(matrix[0])
    n = sum(dims) - n_eq
    unit = [tuple(int(b == a) for b in range(m)) for a in range(m)]
    forms = [{unit[a]: matrix[a][k] for a in range(m) if matrix[a][k]} for k in range(n_eq)]

    def reduce(p: Polynomial, max_degree: int) -> Polynomial:
        return {
            e: c
            for e, c in p.items()
            if c and sum(e) <= max_degree and all(x <= d for x, d in zip(e, dims, strict=True))
        }

    chern: Polynomial = {(0,) * m: 1}
    for a in range(m):
        power = {tuple(j * x for x in unit[a]): math.comb(dims[a] + 1, j) for j in range(n + 1)}
        chern = reduce(_mul(chern, power), n)
    for form in forms:
        inverse, term = {(0,) * m: 1}, {(0,) * m: 1}
        for _ in range(n):
            term = reduce(_mul(term, {e: -c for e, c in form.items()}), n)
            inverse = {e: inverse.get(e, 0) + term.get(e, 0) for e in inverse | term}
        chern = reduce(_mul(chern, inverse), n)
    top: Polynomial = {(0,) * m: 1}
    for k in range(n_eq):
        top = reduce(_mul(top, forms[k]), sum(dims))
    if any(not form for form in forms):  # a nonzero constant equation: X is empty
        top = {}

    def dual(e: tuple[int, ...]) -> int:
        return top.get(tuple(d - x for x, d in zip(e, dims, strict=True)), 0)

    classes = [
        dict(sorted((e, c) for e, c in chern.items() if sum(e) == i)) for i in range(1, n + 1)
    ]
    euler = sum(c * dual(e) for e, c in chern.items() if sum(e) == n)
    inter = {}
    for key in itertools.combinations_with_replacement(range(m), n):
        inter[key] = dual(tuple(key.count(a) for a in range(m)))
    return euler, classes, inter


@settings(max_examples=100, deadline=None)
@given(configurations())
def test_matches_reference_implementation(config) -> None:
    dims, matrix = config
    top = compute_topology(dims, matrix)
    euler, classes, inter = _reference(dims, matrix)
    assert top.euler == euler
    assert list(top.chern_classes) == classes
    assert top.intersections == inter


@settings(max_examples=60, deadline=None)
@given(configurations())
def test_c1_and_intersection_structure(config) -> None:
    dims, matrix = config
    top = compute_topology(dims, matrix)
    n, m = top.dimension, len(dims)
    # c1 = sum_a (n_a + 1 - sum_k q_ak) H_a; so c1 = 0 iff every row sums to n_a + 1.
    c1 = {tuple(int(b == a) for b in range(m)): dims[a] + 1 - sum(matrix[a]) for a in range(m)}
    if n >= 1:
        assert top.chern_classes[0] == {e: c for e, c in c1.items() if c}
        is_cy = all(sum(row) == d + 1 for row, d in zip(matrix, dims, strict=True))
        assert (top.chern_classes[0] == {}) == is_cy
    # every nondecreasing key, in sorted order, nonnegative, consistent with slice_degree
    assert list(top.intersections) == list(itertools.combinations_with_replacement(range(m), n))
    for key, value in top.intersections.items():
        assert value >= 0
        e = [key.count(a) for a in range(m)]
        if all(x <= d for x, d in zip(e, dims, strict=True)):
            t = tuple(d - x for x, d in zip(e, dims, strict=True))
            assert slice_degree(dims, matrix, t) == value


@settings(max_examples=60, deadline=None)
@given(configurations())
def test_todd_integrality(config) -> None:
    """chi(O_X) = int_X Td(X) is an integer (X is smooth, possibly empty/disconnected)."""
    dims, matrix = config
    top = compute_topology(dims, matrix)
    one = {(0,) * len(dims): 1}
    c = [one, *top.chern_classes]

    def integral(*factors: Polynomial) -> int:
        product = one
        for f in factors:
            product = _mul(product, f)
        return _integrate(top, product)

    n = top.dimension
    if n == 1:
        assert integral(c[1]) % 2 == 0
    elif n == 2:
        assert (integral(c[1], c[1]) + integral(c[2])) % 12 == 0
        assert integral(c[2]) == top.euler
    elif n == 3:
        assert integral(c[1], c[2]) % 24 == 0
    elif n == 4:
        todd = (
            -integral(c[1], c[1], c[1], c[1])
            + 4 * integral(c[1], c[1], c[2])
            + 3 * integral(c[2], c[2])
            + integral(c[1], c[3])
            - integral(c[4])
        )
        assert todd % 720 == 0


@settings(max_examples=60, deadline=None)
@given(
    cy_configurations(),
    st.lists(st.fractions(-5, 5, max_denominator=7), min_size=4, max_size=4),
    st.fractions(-3, 3, max_denominator=5),
)
def test_calabi_yau_volume_homogeneous(config, kahler, scale) -> None:
    dims, matrix = config
    top = compute_topology(dims, matrix)
    assert top.chern_classes[0] == {}
    assert all(v >= 0 for v in top.intersections.values())
    t = kahler[: len(dims)]
    assert volume(top, [scale * x for x in t]) == scale**top.dimension * volume(top, t)
    if top.dimension == 1:
        assert top.euler == 0


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 30), st.integers(1, 40))
@example(4, 5)
@example(30, 40)
def test_hypersurfaces_in_projective_space(n, d) -> None:
    """Closed form chi = ((1 - d)^{n+1} - 1) / d + n + 1; large cases use Python ints."""
    if (n, d) == (30, 40):
        assert topology._dtype((n,), ((d,),), n - 1) is object
    top = compute_topology([n], [[d]])
    assert top.euler == ((1 - d) ** (n + 1) - 1) // d + n + 1
    assert top.intersections == {(0,) * (n - 1): d}
    if n >= 2:
        assert top.chern_classes[0] == ({(1,): n + 1 - d} if n + 1 != d else {})
    assert volume(top, [1]) == Fraction(d, math.factorial(n - 1))


@pytest.mark.parametrize(
    ("dims", "matrix"),
    [
        TIAN_YAU,
        SCHOEN,
        ([4], [[5]]),
        ([2, 3], [[2, 1], [1, 1]]),
        ([1, 1, 1, 1], [[2], [2], [2], [2]]),
    ],
)
def test_python_int_fallback_agrees(dims, matrix, monkeypatch) -> None:
    fast = compute_topology(dims, matrix)
    monkeypatch.setattr(topology, "_INT64_SAFE", 0)  # force dtype=object everywhere
    assert compute_topology(dims, matrix) == fast
