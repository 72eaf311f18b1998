"""Generated modules of every shipped manifold, checked against independent computations.

* kernels vs ``sympy.lambdify`` of the IR's (pre-CSE) expressions;
* the Jacobian vs ``jax.jacfwd`` of the generated equations;
* on points of the variety: Hermitian positive FS metrics, the transition
  property g_b = T g_a T^dagger, |Omega|^2 consistency across charts, tangency
  of the pullback, and select_chart's documented rule.
All generated functions run under ``jit`` and ``vmap``.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from conftest import MANIFOLDS, compiled, newton_points

IDS = [p.stem for p in MANIFOLDS]


@pytest.fixture(scope="module", params=MANIFOLDS, ids=IDS)
def case(request):
    result, module = compiled(request.param)
    points = newton_points(module, 6, seed=len(request.param.stem))
    return result.ir, module, points


def _random_ambient(n_points: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_points, dim)) + 1j * rng.normal(size=(n_points, dim))


def test_spec(case):
    ir, module, _ = case
    spec = module.SPEC
    assert spec["configuration"] == [list(r) for r in ir.configuration]
    assert spec["dimension"] == len(spec["coordinates"]) - len(spec["ambient"]) - len(
        spec["configuration"][0]
    )
    assert len(spec["charts"]) == len(ir.charts.charts)
    for chart in spec["charts"]:
        assert len(chart["affine"]) == len(spec["ambient"])
        assert len(chart["dependent"]) == spec["n_equations"]
        assert not set(chart["affine"]) & set(chart["dependent"])


@pytest.mark.parametrize("kernel", ["equations", "jacobian", "fs_ambient"])
def test_kernels_match_lambdify(case, kernel):
    ir, module, _ = case
    k = getattr(ir, kernel)
    reference = sp.lambdify([ir.coords, ir.conj_coords], list(k.outputs), modules="numpy")
    generated = jax.jit(jax.vmap(getattr(module, f"_{kernel}")))
    z = _random_ambient(5, ir.n_ambient, seed=1)
    got = np.asarray(generated(z))
    for zi, gi in zip(z, got, strict=True):
        want = np.asarray(reference(zi, np.conj(zi)), dtype=complex).reshape(k.shape)
        np.testing.assert_allclose(gi, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())


def test_jacobian_matches_autodiff(case):
    ir, module, _ = case
    z = _random_ambient(5, ir.n_ambient, seed=2)
    auto = jax.jit(jax.vmap(jax.jacfwd(module.equations, holomorphic=True)))(z)
    np.testing.assert_allclose(jax.jit(jax.vmap(module.jacobian))(z), auto, rtol=1e-12)


def test_normalize(case):
    _, module, points = case
    scaled = points * 3.7j
    z = jax.jit(jax.vmap(module.normalize))(scaled)
    for o, s in zip(module.GEOMETRY.offsets, module.GEOMETRY.factor_sizes, strict=True):
        block = np.asarray(z[:, o : o + s])
        assert np.allclose(np.max(np.abs(block), axis=1), 1.0, atol=1e-15)
        assert np.all(np.isclose(block, 1.0, atol=1e-15).any(axis=1))
    np.testing.assert_allclose(z, points, atol=1e-13)


def test_fs_metric_hermitian_positive(case):
    ir, module, points = case
    charts = jax.jit(jax.vmap(module.select_chart))(points)
    g = np.asarray(jax.jit(jax.vmap(module.fs_metric))(points, charts))
    assert g.shape == (len(points), ir.dimension, ir.dimension)
    np.testing.assert_allclose(g, np.conj(np.swapaxes(g, 1, 2)), atol=1e-14)
    assert np.all(np.linalg.eigvalsh(g) > 0)


def test_pullback_is_tangent(case):
    ir, module, points = case
    charts = jax.vmap(module.select_chart)(points)
    p = jax.jit(jax.vmap(module.pullback))(points, charts)
    for z, c, pb in zip(points, np.asarray(charts), np.asarray(p), strict=True):
        chart = module.SPEC["charts"][c]
        zc = z / z[np.asarray(chart["affine"])][module.GEOMETRY.factor_of]
        jac = np.asarray(module.jacobian(zc))
        np.testing.assert_allclose(jac @ pb.T, 0, atol=1e-11 * np.abs(jac).max())
        assert np.allclose(pb[:, chart["affine"]], 0)


def test_select_chart_rule(case):
    _, module, points = case
    chosen = np.asarray(jax.jit(jax.vmap(module.select_chart))(points))
    for z, c in zip(points, chosen, strict=True):
        chart = module.SPEC["charts"][c]
        for o, s, a in zip(
            module.GEOMETRY.offsets, module.GEOMETRY.factor_sizes, chart["affine"], strict=True
        ):
            assert a == o + np.argmax(np.abs(z[o : o + s]))
        jac = np.asarray(module.jacobian(z))
        best = max(
            abs(np.linalg.det(jac[:, ch["dependent"]]))
            for ch in module.SPEC["charts"]
            if ch["affine"] == chart["affine"]
        )
        assert abs(np.linalg.det(jac[:, chart["dependent"]])) == pytest.approx(best, rel=1e-12)


def _chart_pairs(module, z, limit=40):
    """Charts valid at z (minor not tiny), paired with the selected one."""
    jac = np.asarray(module.jacobian(np.asarray(module.normalize(z))))
    valid = [
        i
        for i, ch in enumerate(module.SPEC["charts"])
        if abs(np.linalg.det(jac[:, ch["dependent"]])) > 1e-3 * np.abs(jac).max()
    ]
    rng = np.random.default_rng(0)
    return rng.permutation(valid)[:limit]


def test_transition_property_and_omega(case):
    _, module, points = case
    transition = jax.jit(jax.vmap(module.transition, in_axes=(None, None, 0)))
    metric = jax.jit(jax.vmap(module.fs_metric, in_axes=(None, 0)))
    omega = jax.jit(jax.vmap(module.omega_sq, in_axes=(None, 0)))
    checked = 0
    for z in points:
        a = int(module.select_chart(z))
        others = jnp.asarray(_chart_pairs(module, z))
        t = np.asarray(transition(z, a, others))
        g_a = np.asarray(module.fs_metric(z, a))
        g_b = np.asarray(metric(z, others))
        np.testing.assert_allclose(
            t @ g_a @ np.conj(np.swapaxes(t, 1, 2)), g_b, rtol=1e-10, atol=1e-10 * np.abs(g_b).max()
        )
        w_a = float(module.omega_sq(z, a))
        w_b = np.asarray(omega(z, others))
        np.testing.assert_allclose(w_a * np.abs(np.linalg.det(t)) ** 2, w_b, rtol=1e-10)
        checked += len(others)
    assert checked >= len(points)


def test_transition_composes(case):
    _, module, points = case
    z = points[0]
    charts = _chart_pairs(module, z, limit=3)
    if len(charts) < 3:
        pytest.skip("fewer than three charts valid at the point")
    a, b, c = (int(x) for x in charts)
    t_ab = np.asarray(module.transition(z, a, b))  # du_a/du_b
    t_bc = np.asarray(module.transition(z, b, c))  # du_b/du_c
    t_ac = np.asarray(module.transition(z, a, c))  # du_a/du_c
    np.testing.assert_allclose(t_bc @ t_ab, t_ac, rtol=1e-10, atol=1e-12)


def test_all_charts_in_lookup(case):
    ir, module, _ = case
    lookup = module.GEOMETRY.lookup
    ids = sorted(int(i) for i in lookup.ravel() if i >= 0)
    assert ids == list(range(len(ir.charts.charts)))
    for combo in itertools.islice(range(lookup.shape[0]), 5):
        assert (lookup[combo] >= 0).any()
