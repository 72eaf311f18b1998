"""cygen.roots: batched Aberth-Ehrlich polynomial roots against numpy.roots.

Every call goes through :func:`solve`, which pads a batch to ``N`` rows, so that each
degree compiles once for the whole file (XLA compilation dominates the run time).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax.config.update("jax_enable_x64", True)

from cygen.sampling import roots as roots_module  # noqa: E402
from cygen.sampling.roots import polish, polyroots  # noqa: E402

N = 32
EPS = np.finfo(np.float64).eps


def solve(coeffs):
    """polyroots on a (k, d+1) batch with k <= N, padded to N rows; numpy results."""
    c = np.atleast_2d(np.asarray(coeffs, dtype=complex))
    k = len(c)
    c = np.concatenate([c, np.repeat(c[:1], N - k, axis=0)])
    r, ok = polyroots(jnp.asarray(c))
    return np.asarray(r)[:k], np.asarray(ok)[:k]


def rel_residual(c, r):
    """|p(r)| / sum_i |a_i| |r|^(d-i) for every root (backward error)."""
    c, r = np.atleast_2d(c), np.atleast_2d(r)
    p, t = np.zeros(r.shape, complex), np.zeros(r.shape)
    for i in range(c.shape[1]):
        p = p * r + c[:, i : i + 1]
        t = t * np.abs(r) + np.abs(c[:, i : i + 1])
    return np.abs(p) / np.where(t > 0, t, 1.0)


def match(found, expected):
    """Pair two multisets of complex numbers greedily, closest pairs first.

    Returns ``found`` reordered to align with ``expected``."""
    found, expected = np.asarray(found), np.asarray(expected)
    dist = np.abs(found[:, None] - expected[None, :])
    out = np.empty_like(found)
    for _ in range(len(found)):
        i, j = np.unravel_index(np.argmin(dist), dist.shape)
        out[j] = found[i]
        dist[i, :] = np.inf
        dist[:, j] = np.inf
    return out


def condition(c, r):
    """Absolute condition number of each root: sum |a_i||r|^(d-i) / |p'(r)|."""
    d = len(c) - 1
    t = np.polyval(np.abs(c), np.abs(r))
    dp = np.polyval(np.polyder(c), r) if d > 0 else np.ones_like(r)
    with np.errstate(divide="ignore", over="ignore"):
        return t / np.abs(dp)


def random_polys(d, k, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((k, d + 1)) + 1j * rng.standard_normal((k, d + 1))


@pytest.mark.parametrize("d", range(1, 13))
def test_random_polynomials_match_numpy(d):
    c = random_polys(d, N, seed=d)
    r, ok = solve(c)
    assert r.shape == (N, d) and ok.shape == (N,)
    assert ok.all()
    assert rel_residual(c, r).max() < 1e-13
    for ci, ri in zip(c, r, strict=True):
        ref = np.roots(ci)
        bound = 100 * d * EPS * (condition(ci, ref) + np.abs(ref))
        assert np.all(np.abs(match(ri, ref) - ref) <= bound)


def test_clustered_roots():
    # a triple cluster of width 1e-6 is below eps^(1/3): accurate to ~1e-5 (as numpy);
    # one of width 1e-4 is resolved; the simple roots are unaffected
    for width, err in [(1e-6, 2e-5), (1e-4, 1e-6)]:
        true = np.array([1, 1 + width, 1 - 1j * width, -2, 0.5j])
        c = np.poly(true)
        r, ok = solve(c)
        error = np.abs(match(r[0], true) - true)
        assert ok[0]
        assert rel_residual(c, r).max() < 1e-14
        assert error[:3].max() < err
        assert error[3:].max() < 1e-13
        assert error.max() < 10 * np.abs(match(np.roots(c), true) - true).max()  # ~ numpy


def test_exact_double_root():
    # documented: ~sqrt(eps) accuracy, flagged converged (tiny backward error)
    true = np.array([1, 1, -2, 3j, 0.5])
    c = np.poly(true)
    r, ok = solve(c)
    error = np.abs(match(r[0], true) - true)
    assert ok[0]
    assert rel_residual(c, r).max() < 1e-14
    assert error[:2].max() < 1e-7
    assert error[2:].max() < 1e-13


def test_higher_multiplicity_is_as_accurate_as_the_conditioning_allows():
    for m in (3, 4, 5):
        true = np.array([1.5] * m + [-1, 2j][: 5 - m])
        c = np.poly(true)
        r, _ = solve(c)
        assert rel_residual(c, r).max() < 1e-14
        assert np.abs(r[0] - 1.5).min() < 10 * EPS ** (1 / m)
        assert np.abs(match(r[0], true) - true).max() < 10 * EPS ** (1 / m)


@pytest.mark.parametrize("d", [5, 12])
def test_widely_scaled_roots(d):
    rng = np.random.default_rng(7)
    true = 10.0 ** np.linspace(-3, 3, d) * np.exp(2j * np.pi * rng.random(d))
    c = np.poly(true)
    r, ok = solve(c)
    assert ok[0]
    assert np.all(np.abs(match(r[0], true) - true) <= 1e-12 * np.abs(true))


@pytest.mark.parametrize("d", [5, 12])
def test_roots_of_unity(d):
    c = np.zeros(d + 1)
    c[0], c[-1] = 1.0, -1.0
    r, ok = solve(c)
    true = np.exp(2j * np.pi * np.arange(d) / d)
    assert ok[0]
    assert np.abs(match(r[0], true) - true).max() < 1e-14


def test_exact_zero_roots():
    r, ok = solve([np.poly([0, 0, 1, 2]), np.array([1, 0, 0, 0, 0]), np.poly([0, 3, 4j, -1])])
    assert ok.all()
    assert np.array_equal(np.sort_complex(r[0]), [0, 0, 1, 2])
    assert np.array_equal(r[1], np.zeros(4))
    assert np.abs(np.sort_complex(r[2]) - np.sort_complex([0, 3, 4j, -1])).max() < 1e-14


def test_degree_one_and_two():
    r, ok = solve([[2, 4], [1j, 1]])
    assert ok.all()
    assert np.allclose(r[:, 0], [-2, 1j], rtol=1e-15, atol=0)
    r, ok = solve([[1, 0, 1], [1, -2, 1], [1, -(1e8 + 1e-8), 1], [3, 0, 0]])
    assert ok.all()
    assert np.allclose(np.sort_complex(r[0]), [-1j, 1j], rtol=1e-15, atol=0)
    assert np.array_equal(r[1], [1, 1])
    assert np.allclose(np.sort_complex(r[2]), [1e-8, 1e8], rtol=1e-15, atol=0)
    assert np.array_equal(r[3], [0, 0])


def test_coefficient_scale_is_irrelevant():
    c = np.poly([1, 2j, -3, 4, 5 - 1j])
    r, ok = solve([c, c * 1e250, c * 1e-250, c * 2.0**-1000])
    assert ok.all()
    for ri in r[1:]:
        assert np.abs(np.sort_complex(ri) - np.sort_complex(r[0])).max() < 1e-13


def test_bad_polynomials_are_flagged():
    _, ok = solve([[0, 1, 2, 3], [1, np.nan, 2, 3], [1, 2, 3, 4]])
    assert list(ok) == [False, False, True]


def test_shapes_real_input_and_dtype():
    c = random_polys(4, N, seed=1)
    r, ok = polyroots(c.reshape(2, N // 2, 5))  # shares the compiled (N, 5) program
    assert r.shape == (2, N // 2, 4) and ok.shape == (2, N // 2) and r.dtype == jnp.complex128
    assert np.array_equal(np.asarray(r).reshape(N, 4), solve(c)[0])
    r1, ok1 = polyroots(c[5])
    assert r1.shape == (4,) and ok1.shape == () and bool(ok1)
    assert np.abs(match(np.asarray(r1), np.asarray(r[0, 5])) - r[0, 5]).max() < 1e-13
    r0, ok0 = polyroots(np.ones((3, 1)))
    assert r0.shape == (3, 0) and ok0.all()
    real = np.tile([1.0, -6.0, 11.0, -6.0], (N, 1))  # real input, promoted to complex
    rr, okr = polyroots(real)
    assert okr.all() and np.abs(np.sort_complex(rr[0]) - [1, 2, 3]).max() < 1e-14


def test_jit_and_vmap():
    c = jnp.asarray(random_polys(3, 2 * N, seed=11).reshape(2, N, 4))
    r, ok = polyroots(c)
    rj, okj = jax.jit(lambda x: polyroots(x))(c)
    rv, okv = jax.vmap(jax.vmap(polyroots))(c)
    assert ok.all() and okj.all() and okv.all()
    for other in (rj, rv):
        pairs = zip(np.asarray(r).reshape(-1, 3), np.asarray(other).reshape(-1, 3), strict=True)
        assert max(np.abs(match(b, a) - a).max() for a, b in pairs) < 1e-12


def test_unconverged_polynomials_are_flagged():
    c = random_polys(3, N, seed=4)
    r, ok = polyroots(jnp.asarray(c), iterations=1)  # one sweep from the initial guesses
    bad = rel_residual(c, np.asarray(r)).max(axis=1) > 1e-12
    assert bad.sum() > N // 2
    assert not np.asarray(ok)[bad].any()


def test_polish():
    rng = np.random.default_rng(3)
    true = rng.standard_normal((N, 5)) + 1j * rng.standard_normal((N, 5))
    c = np.stack([np.poly(t) for t in true])
    start = true * (1 + 1e-6 * rng.standard_normal(true.shape))
    r = np.asarray(polish(jnp.asarray(c), jnp.asarray(start), steps=2))
    assert np.max(np.abs(r - true) / np.abs(true)) < 1e-12
    rv = jax.vmap(lambda a, z: polish(a, z, steps=2))(jnp.asarray(c), jnp.asarray(start))
    assert np.abs(np.asarray(rv) - r).max() < 1e-13


def test_compaction_and_chunking(monkeypatch):
    # small thresholds so that a modest batch goes through chunks (with padding) and
    # several compaction levels; a few double roots make the last level iterate long
    monkeypatch.setattr(roots_module, "_CHUNK", 384)
    monkeypatch.setattr(roots_module, "_MIN_BATCH", 64)
    c = random_polys(3, 1000, seed=5)
    c[::97] = np.poly([1, 1, 2j])
    r, ok = polyroots(jnp.asarray(c))  # (1000, 4): a shape no other test compiles
    r = np.asarray(r)
    assert np.asarray(ok).all()
    assert rel_residual(c, r).max() < 1e-13
    for i in [*range(0, 1000, 97), *range(1, 1000, 37)]:
        ref = np.roots(c[i])
        assert np.abs(match(r[i], ref) - ref).max() < (1e-7 if i % 97 == 0 else 1e-11)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-2, 2), st.floats(0, 1)),  # log10 |root|, phase / 2 pi
        min_size=1,
        max_size=6,
    )
)
def test_recovers_random_roots(spec):
    true = np.array([10.0**m * np.exp(2j * np.pi * t) for m, t in spec])
    c = np.poly(true)
    r, ok = solve(c)
    bound = 1e3 * EPS * (condition(c, true) + np.abs(true))
    assert rel_residual(c, r).max() < 1e-13
    well = bound < 1e-6  # coinciding roots: only the backward error is guaranteed
    assert np.all(np.abs(match(r[0], true) - true)[well] <= bound[well])
    assert ok[0] or not well.all()
