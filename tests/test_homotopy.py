"""Tests for cygen.homotopy: start-system combinatorics and all-solutions path tracking."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from cygen.sampling.homotopy import (
    bezout_number,
    multihomogeneous_start,
    resolve_failed,
    solve,
)

jax.config.update("jax_enable_x64", True)

B = 200  # slices per system
FAST = dict(levels=1)  # one compiled tracking loop: keeps the test compile time down


def cgauss(rng, *shape):
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / np.sqrt(2)


# --------------------------------------------------------------------------------------
# Test varieties: system(x, p) and an "absolute value" scale for relative residuals
# --------------------------------------------------------------------------------------


def quintic(x, p):  # Fermat quintic in P4 restricted to a line
    z = p @ x
    return jnp.sum(z**5)[None]


def quintic_scale(x, p):
    return jnp.sum(jnp.abs(p @ x) ** 5)[None]


def tian_yau(x, p):  # P3 x P3: sum x^3, sum y^3, sum x_i y_i on a line x plane
    b1, b2 = p
    z, w = b1 @ x[:2], b2 @ x[2:]
    return jnp.stack([jnp.sum(z**3), jnp.sum(w**3), jnp.sum(z * w)])


def tian_yau_scale(x, p):
    b1, b2 = p
    z, w = jnp.abs(b1 @ x[:2]), jnp.abs(b2 @ x[2:])
    return jnp.stack([jnp.sum(z**3), jnp.sum(w**3), jnp.sum(z * w)])


def p5_33(x, p):  # two cubics in P5 restricted to a plane
    b, c = p
    z = b @ x
    return jnp.stack([jnp.sum(z**3), jnp.sum(c * z**3) + z[0] * z[1] * z[2] + z[3] * z[4] * z[5]])


def p5_33_scale(x, p):
    b, c = p
    z = jnp.abs(b @ x)
    return jnp.stack(
        [jnp.sum(z**3), jnp.sum(jnp.abs(c) * z**3) + z[0] * z[1] * z[2] + z[3] * z[4] * z[5]]
    )


_SCHOEN = cgauss(np.random.default_rng(7), 4, 3, 3, 3)  # four random cubics on P2


def _cubic(c, v):
    return jnp.einsum("ijk,i,j,k->", c, v, v, v)


def schoen(x, p):  # P2 x P1 x P2, degrees (3,1,0), (0,1,3); slice a line x P1 x point
    b0, b1, b2 = p
    u, y, z = b0 @ x[:2], b1 @ x[2:4], b2 @ x[4:5]
    return jnp.stack(
        [
            y[0] * _cubic(_SCHOEN[0], u) + y[1] * _cubic(_SCHOEN[1], u),
            y[0] * _cubic(_SCHOEN[2], z) + y[1] * _cubic(_SCHOEN[3], z),
        ]
    )


def schoen_scale(x, p):
    b0, b1, b2 = p
    u, y, z = jnp.abs(b0 @ x[:2]), jnp.abs(b1 @ x[2:4]), jnp.abs(b2 @ x[4:5])
    c = np.abs(_SCHOEN)
    return jnp.stack(
        [
            y[0] * _cubic(c[0], u) + y[1] * _cubic(c[1], u),
            y[0] * _cubic(c[2], z) + y[1] * _cubic(c[3], z),
        ]
    )


def make_params(name, rng, n):
    def c(*s):
        return jnp.asarray(cgauss(rng, n, *s))

    return {
        "quintic": lambda: c(5, 2),
        "tian_yau": lambda: (c(4, 2), c(4, 3)),
        "p5_33": lambda: (c(6, 3), c(6)),
        "schoen": lambda: (c(3, 2), c(2, 2), c(3, 1)),
    }[name]()


CASES = {
    "quintic": (quintic, quintic_scale, (1,), ((5,),), 5),
    "tian_yau": (tian_yau, tian_yau_scale, (1, 2), ((3, 0, 1), (0, 3, 1)), 9),
    "p5_33": (p5_33, p5_33_scale, (2,), ((3, 3),), 9),
    "schoen": (schoen, schoen_scale, (1, 1, 0), ((3, 0), (1, 1), (0, 3)), 3),
}

_SOLVED: dict = {}


def solved(name):
    """Solve B random slices of a test variety once per session (jit, fixed key)."""
    if name not in _SOLVED:
        system, _, t, q, _ = CASES[name]
        params = make_params(name, np.random.default_rng(1), B)
        opts = {} if name == "quintic" else FAST  # the quintic exercises the tail compaction
        fn = jax.jit(lambda p, k: solve(system, t, q, p, k, **opts))
        _SOLVED[name] = (params, fn, fn(params, jax.random.PRNGKey(0)))
    return _SOLVED[name]


# --------------------------------------------------------------------------------------
# Start system
# --------------------------------------------------------------------------------------


def bezout_sympy(t, q):
    h = sympy.symbols(f"h0:{len(t)}")
    expr = sympy.Integer(1)
    for k in range(sum(t)):
        expr *= sum(q[a][k] * h[a] for a in range(len(t)))
    poly = sympy.Poly(sympy.expand(expr), *h)
    return int(poly.coeff_monomial(math.prod(ha**ta for ha, ta in zip(h, t, strict=True))))


def check_start_solutions(t, q, rng):
    """The enumerated start points solve G = 0 and are pairwise distinct (numpy)."""
    start = multihomogeneous_start(t, q)
    ell = {row: cgauss(rng, t[row[0]] + 1) for row in map(tuple, start.rows)}
    patch = [cgauss(rng, ta + 1) for ta in t]
    rows = [tuple(r) for r in start.rows]
    points = []
    for p in range(start.n_paths):
        pt = []
        for a, ta in enumerate(t):
            mat = np.array([ell[rows[r]] for r in start.vanishing[a][p]] + [patch[a]])
            rhs = np.zeros(ta + 1, complex)
            rhs[-1] = 1
            pt.append(np.linalg.solve(mat.reshape(ta + 1, ta + 1), rhs))
        for k in range(sum(t)):
            factors = [ell[(a, k, j)] @ pt[a] for a in range(len(t)) for j in range(q[a][k])]
            assert min(abs(f) for f in factors) < 1e-9
        points.append(np.concatenate(pt))
    points = np.array(points)
    for i, j in itertools.combinations(range(len(points)), 2):
        assert np.linalg.norm(points[i] - points[j]) > 1e-6


@pytest.mark.parametrize(
    "t,q,d",
    [
        ((1, 2), ((3, 0, 1), (0, 3, 1)), 9),  # Tian-Yau
        ((2,), ((3, 3),), 9),  # P5[3,3]
        ((1,), ((5,),), 5),  # quintic, line slice
        ((1, 0), ((3,), (3,)), 3),  # bicubic in P2 x P2
        ((1, 1, 0), ((3, 0), (1, 1), (0, 3)), 3),  # Schoen
        (
            (1, 1, 1),
            ((2, 0, 1), (1, 2, 0), (1, 1, 2)),
            11,
        ),  # permanent of [[2,1,1],[0,2,1],[1,0,2]]
    ],
)
def test_start_system_path_count(t, q, d):
    start = multihomogeneous_start(t, q)
    assert start.n_paths == bezout_number(t, q) == bezout_sympy(t, q) == d
    for p in range(d):  # t_a equations per group, each with a vanishing factor there
        counts = np.bincount(start.group[p], minlength=len(t))
        assert tuple(counts) == t
        for k, (a, j) in enumerate(zip(start.group[p], start.factor[p], strict=True)):
            assert 0 <= j < q[a][k]
    assert len({(tuple(g), tuple(f)) for g, f in zip(start.group, start.factor, strict=True)}) == d
    check_start_solutions(t, q, np.random.default_rng(0))


@st.composite
def structures(draw):
    n_groups = draw(st.integers(1, 3))
    t = tuple(draw(st.integers(0, 2)) for _ in range(n_groups))
    if sum(t) == 0:
        t = (1,) + t[1:]
    q = tuple(tuple(draw(st.integers(0, 3)) for _ in range(sum(t))) for _ in range(n_groups))
    return t, q


@settings(max_examples=40, deadline=None)
@given(structures())
def test_bezout_number_matches_sympy(tq):
    t, q = tq
    d = bezout_number(t, q)
    assert d == bezout_sympy(t, q) == multihomogeneous_start(t, q).n_paths
    if 0 < d <= 40:
        check_start_solutions(t, q, np.random.default_rng(d))


def test_input_validation():
    with pytest.raises(ValueError):
        multihomogeneous_start((1, 2), ((3, 0, 1),))
    with pytest.raises(ValueError):
        multihomogeneous_start((1,), ((3, 3),))
    params = jnp.ones((2, 5, 2), complex)
    with pytest.raises(TypeError):
        solve(quintic, (1,), ((5,),), params, jax.random.PRNGKey(0), bogus=1)
    with pytest.raises(ValueError):  # no isolated solutions: degree 0 in the only group
        solve(quintic, (1,), ((0,),), params, jax.random.PRNGKey(0))


# --------------------------------------------------------------------------------------
# Solving random slices
# --------------------------------------------------------------------------------------


def projective_distance(x, y, offs):
    out = 0.0
    for a in range(len(offs) - 1):
        u, v = x[offs[a] : offs[a + 1]], y[offs[a] : offs[a + 1]]
        u, v = u / np.linalg.norm(u), v / np.linalg.norm(v)
        ip = np.vdot(v, u)
        phase = ip / abs(ip) if abs(ip) > 0 else 1.0
        out = max(out, np.linalg.norm(u - phase * v))
    return out


def same_point_sets(xs, ys, offs, tol):
    dist = np.array([[projective_distance(x, y, offs) for y in ys] for x in xs])
    return len(xs) == len(ys) and all(
        (dist[i] < tol).sum() == 1 and (dist[:, i] < tol).sum() == 1 for i in range(len(xs))
    )


@pytest.mark.parametrize("name", list(CASES))
def test_random_slices(name):
    system, scale, t, q, d = CASES[name]
    params, _, res = solved(name)
    offs = np.concatenate([[0], np.cumsum(np.add(t, 1))])
    x, ok = np.asarray(res.x), np.asarray(res.ok)
    assert x.shape == (B, d, offs[-1])
    assert ok.mean() >= 0.99, ok.mean()
    assert np.all(np.asarray(res.success)[ok])
    # equations hold to ~1e-12 relative to the size of their terms
    ev = jax.vmap(jax.vmap(lambda x, p: (system(x, p), scale(x, p)), (0, None)))
    f, s = (np.asarray(v) for v in ev(res.x, params))
    rel = np.abs(f) / s
    assert rel[ok].max() < 1e-12, rel[ok].max()
    # every group normalised: largest coordinate exactly 1
    for a in range(len(t)):
        xa = x[ok][..., offs[a] : offs[a + 1]]
        assert np.allclose(np.abs(xa).max(-1), 1.0, atol=1e-14)
        assert np.all(np.any(xa == 1.0, -1))
    # d pairwise distinct solutions in every ok slice
    for b in np.flatnonzero(ok)[:50]:
        for i, j in itertools.combinations(range(d), 2):
            assert projective_distance(x[b, i], x[b, j], offs) > 1e-6


def test_quintic_line_matches_numpy_roots():
    params, _, res = solved("quintic")
    bmat, x, ok = np.asarray(params), np.asarray(res.x), np.asarray(res.ok)
    for b in np.flatnonzero(ok):
        # sum_i (B_i0 + B_i1 a)^5, coefficients of a^m
        coef = [
            math.comb(5, m) * np.sum(bmat[b, :, 0] ** (5 - m) * bmat[b, :, 1] ** m)
            for m in range(6)
        ]
        roots = np.roots(coef[::-1])
        ours = x[b, :, 1] / x[b, :, 0]
        dist = np.abs(roots[:, None] - ours[None, :]) / np.maximum(1.0, np.abs(roots[:, None]))
        assert np.all((dist < 1e-8).sum(0) == 1) and np.all((dist < 1e-8).sum(1) == 1)


def _resultant_solutions(f, n_samples=16):
    """All solutions of f(1, a, b) = 0 (two cubics) via the Sylvester resultant in b."""
    w4 = np.exp(2j * np.pi * np.arange(4) / 4)

    def cubic_in_b(a):  # coefficients (c0..c3) of b -> f(1, a, b), both equations
        vals = np.array([f(np.array([1.0, a, b])) for b in w4])  # (4, 2)
        return np.fft.fft(vals, axis=0) / 4

    def sylvester(c1, c2):
        m = np.zeros((6, 6), complex)
        for i in range(3):
            m[i, i : i + 4] = c1[::-1]
            m[3 + i, i : i + 4] = c2[::-1]
        return np.linalg.det(m)

    wa = np.exp(2j * np.pi * np.arange(n_samples) / n_samples)
    res = np.array([sylvester(*cubic_in_b(a).T) for a in wa])
    coef = np.fft.fft(res) / n_samples  # degree 9 in a
    sols = []
    for a in np.roots(coef[9::-1]):
        c = cubic_in_b(a)
        bs = np.roots(c[::-1, 0])
        b = bs[np.argmin([abs(f(np.array([1.0, a, b]))[1]) for b in bs])]
        sols.append(np.array([1.0, a, b]))
    return sols


def test_p5_33_matches_resultant():
    params, _, res = solved("p5_33")
    x, ok = np.asarray(res.x), np.asarray(res.ok)
    for b in np.flatnonzero(ok)[:4]:
        p = jax.tree_util.tree_map(lambda v, b=b: np.asarray(v[b]), params)
        jac = jax.jit(
            jax.jacfwd(
                lambda ab, p=p: p5_33(jnp.concatenate([jnp.ones(1), ab]), p), holomorphic=True
            )
        )
        refined = []
        for sol in _resultant_solutions(lambda v, p=p: np.asarray(p5_33(jnp.asarray(v), p))):
            ab = sol[1:]
            for _ in range(6):  # independent Newton refinement in the affine chart
                ab = ab - np.linalg.solve(np.asarray(jac(ab)), np.asarray(p5_33(np.r_[1.0, ab], p)))
            refined.append(np.r_[1.0, ab])
        assert same_point_sets(refined, list(x[b]), [0, 3], 1e-7)


def test_jit_deterministic_and_key_independent():
    params, fn, res = solved("tian_yau")
    again = fn(params, jax.random.PRNGKey(0))
    for u, v in zip(res, again, strict=True):
        assert np.array_equal(np.asarray(u), np.asarray(v))
    other = fn(params, jax.random.PRNGKey(1))  # new gamma, start system and charts
    both = np.flatnonzero(np.asarray(res.ok) & np.asarray(other.ok))
    assert len(both) >= 0.98 * B
    offs = [0, 2, 5]
    for b in both[:40]:
        assert same_point_sets(list(np.asarray(res.x[b])), list(np.asarray(other.x[b])), offs, 1e-8)


def test_direct_mode_with_user_jacobian():
    params, _, res = solved("quintic")

    def jac(x, p):
        return (5 * (p @ x) ** 4 @ p)[None, :]

    fn = jax.jit(
        lambda p, k: solve(quintic, (1,), ((5,),), p, k, jac=jac, interpolate=False, **FAST)
    )
    direct = fn(params[:40], jax.random.PRNGKey(0))
    ok = np.flatnonzero(np.asarray(direct.ok) & np.asarray(res.ok[:40]))
    assert len(ok) >= 39
    for b in ok:
        assert same_point_sets(
            list(np.asarray(direct.x[b])), list(np.asarray(res.x[b])), [0, 2], 1e-8
        )


def test_resolve_failed_slices():
    params, _, res = solved("quintic")
    broken = res._replace(
        ok=res.ok.at[:3].set(False), x=res.x.at[:3].set(0.0), success=res.success.at[:3].set(False)
    )
    fixed = jax.jit(
        lambda p, r, k: resolve_failed(quintic, (1,), ((5,),), p, r, k, max_slices=4, **FAST)
    )(params, broken, jax.random.PRNGKey(5))
    assert np.all(np.asarray(fixed.ok[:3]))
    for b in range(3):
        assert same_point_sets(
            list(np.asarray(fixed.x[b])), list(np.asarray(res.x[b])), [0, 2], 1e-8
        )
    assert np.array_equal(np.asarray(fixed.x[3:]), np.asarray(res.x[3:]))


def test_understated_degree_is_flagged():
    params = make_params("quintic", np.random.default_rng(3), 20)
    res = jax.jit(lambda p, k: solve(quintic, (1,), ((4,),), p, k, **FAST))(
        params, jax.random.PRNGKey(0)
    )
    assert not np.any(np.asarray(res.ok)) and not np.any(np.asarray(res.success))
