"""Donaldson's balanced metrics: sections (Gröbner/Hilbert), the T-operator, the metric."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from conftest import ROOT, compiled, newton_points
from typer.testing import CliRunner

from cygen.cli import app
from cygen.compiler.analysis import sections as sec
from cygen.compiler.loader import load
from cygen.core.errors import CygenError
from cygen.evaluate.donaldson import table
from cygen.evaluate.integrals import euler
from cygen.geometry import runtime as rt
from cygen.geometry.local import local
from cygen.geometry.measure import sigma as measure_sigma
from cygen.learn import donaldson as dn
from cygen.learn import losses, models
from cygen.learn import potentials as pot
from cygen.learn.config import resolve_config
from cygen.learn.runs import build_model, load_run
from cygen.learn.trainer import train
from cygen.sampling.sampler import sample

QUINTIC = ROOT / "manifolds" / "fermat_quintic.cy"
K3 = ROOT / "manifolds" / "k3_quartic.cy"
TY = ROOT / "manifolds" / "tian_yau.cy"
SIGMA_DKLR = {1: 0.373, 2: 0.272, 3: 0.193, 4: 0.131, 5: 0.091, 6: 0.067}


def _projective(tmp_path, n: int):
    """P^n as the linear hypersurface z_{n+1} = 0 of P^{n+1} (not CY: allow_non_cy)."""

    path = tmp_path / f"p{n}.cy"
    path.write_text(f"name p{n}\nambient P{n + 1}\neq z{n + 1}\n")
    return load(path, allow_non_cy=True)


# ----------------------------------------------------------------------------- sections


def test_hilbert_function_by_hand():
    assert sec.hilbert_function([4], [[5]], [5]) == 126 - 1
    assert sec.hilbert_function([3], [], [2]) == 10  # P^3 itself
    assert [sec.hilbert_function([3], [[4]], [k]) for k in range(1, 5)] == [4, 10, 20, 34]
    # Tian-Yau, degree (2,2): 100 monomials minus the 16 multiples of the bilinear equation
    assert sec.hilbert_function([3, 3], [[3, 0, 1], [0, 3, 1]], [2, 2]) == 84


def test_quintic_counts():
    counts = [len(sec.basis(compiled(QUINTIC)[0], k)) for k in range(1, 7)]
    assert counts == [5, 15, 35, 70, 125, 205]
    assert len(sec.basis(compiled(QUINTIC)[0], 5)) == math.comb(9, 4) - 1


def test_k3_and_tian_yau_counts():
    assert [len(sec.basis(compiled(K3)[0], k)) for k in range(1, 5)] == [4, 10, 20, 34]
    assert [len(sec.basis(compiled(TY)[0], k)) for k in (1, 2)] == [15, 84]
    expected = sec.hilbert_function([3, 3], [[3, 0, 1], [0, 3, 1]], [1, 2])
    assert len(sec.basis(compiled(TY)[0], (1, 2))) == expected


def test_module_states_its_equations_exactly():
    for path in (TY, ROOT / "manifolds" / "schoen.cy", ROOT / "manifolds" / "bicubic_generic.cy"):
        result, module = compiled(path)
        gens, eqs = sec.equations_from_spec(module.SPEC)
        diffs = [sp.expand(a - b) for a, b in zip(eqs, result.ir.equations.outputs, strict=True)]
        assert diffs == [0] * len(eqs)
        assert sec.leading_monomials(eqs, gens) == sec.leading_monomials(
            result.ir.equations.outputs, gens)


def test_standard_monomials_are_a_basis_on_x():
    """On points of X all monomials of degree k span exactly h(k) dimensions, and the
    standard ones are independent (so they are a basis of the restricted sections)."""
    _, module = compiled(TY)
    points = newton_points(module, 300, seed=3)
    exps = sec.basis(module, 2)
    allm = sec.standard_monomials([], [4, 4], [2, 2])
    s = np.asarray(jax.jit(jax.vmap(lambda z: pot.section_values(exps, z)))(points))
    a = np.asarray(jax.jit(jax.vmap(lambda z: pot.section_values(allm, z)))(points))
    assert np.linalg.matrix_rank(s, tol=1e-9 * np.abs(s).max()) == len(exps) == 84
    assert np.linalg.matrix_rank(a, tol=1e-9 * np.abs(a).max()) == 84 < len(allm)


def test_bad_degree():
    with pytest.raises(CygenError, match="does not match"):
        sec.basis(compiled(TY)[0], (1,))
    with pytest.raises(CygenError, match="not integral"):
        sec.multidegree(1, [0.5, 1.0])


# ----------------------------------------------------------------------------- T-operator


def test_t_operator_converges_to_fixed_point():
    _, module = compiled(QUINTIC)
    data = sample(module, 6000, seed=0)
    exps = sec.basis(module, 2)
    h, history = dn.balance(exps, data.points, data.weights, tol=1e-8, max_iterations=60,
                            factor_sizes=[5])
    changes = [x["change"] for x in history]
    assert changes[-1] < 1e-8 and len(changes) < 60
    assert changes[-1] < changes[2] < changes[0]
    t = dn.t_operator(exps, h, data.points, data.weights)
    np.testing.assert_allclose(t @ h, np.eye(len(h)), atol=1e-6)  # h = T(h)^{-1}
    assert abs(np.real(np.trace(h @ t)) - len(h)) < 1e-9
    assert np.linalg.norm(h - dn.start_matrix(exps, [5]) * len(h) / np.trace(
        dn.start_matrix(exps, [5])).real) > 1e-3  # it moved


def test_sigma_decreases_and_matches_literature_small_k():
    _, module = compiled(QUINTIC)
    fresh = sample(module, 6000, seed=1000)
    sigmas = {}
    for k in (1, 2):
        metric = dn.balanced(module, k, points=15_000, seed=0)
        sigmas[k] = dn.sigma(metric, fresh)
    assert abs(sigmas[1] - SIGMA_DKLR[1]) < 0.015
    assert abs(sigmas[2] - SIGMA_DKLR[2]) < 0.015
    assert sigmas[2] < sigmas[1] - 0.07


@pytest.mark.parametrize("k", [1, 2])
def test_balanced_on_projective_space_is_fubini_study(tmp_path, k):
    """On P^n with its FS volume the balanced metric of degree k is FS (from a random h0)."""
    module = _projective(tmp_path, 2)
    geo = module.GEOMETRY
    data = sample(module, 20_000, seed=1)
    g_fs = jax.vmap(module.fs_metric)(data.points, data.chart)
    vol_fs = np.real(np.asarray(jax.vmap(jnp.linalg.det)(g_fs)))
    weights = data.weights * vol_fs / data.omega_sq  # mean(w f) = int f dvol_FS
    exps = sec.standard_monomials([(0, 0, 0, 1)], geo.factor_sizes, [k])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(len(exps), len(exps))) + 1j * rng.normal(size=(len(exps), len(exps)))
    h0 = x @ x.conj().T + np.eye(len(exps))
    h, _ = dn.balance(exps, data.points, weights, h0=h0, tol=1e-9, max_iterations=200)
    metric = dn.Balanced(module, (k,), exps, h, 1 / (math.pi * k))
    g = jax.jit(jax.vmap(metric.metric_in))(data.points[:500], data.chart[:500])
    rel = np.max(np.abs(g - g_fs[:500])) / np.max(np.abs(g_fs[:500]))
    print("P^2, k =", k, "max relative deviation from FS:", rel)
    assert rel < 0.05
    # the random start itself is far from FS
    far = dn.Balanced(module, (k,), exps, h0, 1 / (math.pi * k))
    g0 = jax.jit(jax.vmap(far.metric_in))(data.points[:500], data.chart[:500])
    assert np.max(np.abs(g0 - g_fs[:500])) / np.max(np.abs(g_fs[:500])) > 0.2


# ----------------------------------------------------------------------------- the metric


def test_metric_closed_form_matches_autodiff_and_transforms():
    _, module = compiled(K3)
    geo = module.GEOMETRY
    metric = dn.balanced(module, 2, points=8000, seed=0)
    data = sample(module, 50, seed=5)
    g = jax.jit(jax.vmap(metric.metric_in))(data.points, data.chart)
    g_ad = jax.jit(jax.vmap(lambda z, c: models.potential_metric(
        metric.potential, local(geo, z, c))))(data.points, data.chart)
    np.testing.assert_allclose(g, g_ad, rtol=0, atol=1e-12 * float(jnp.max(jnp.abs(g))))
    assert np.all(np.linalg.eigvalsh(np.asarray(g)) > 0)
    # a tensor: g_b = T g_a T^dagger for another chart b of the same point

    def residual(z, a):
        b = losses.second_chart(geo, z)
        t = rt.transition(geo, z, a, b)
        return metric.metric_in(z, b) - t @ metric.metric_in(z, a) @ t.conj().T, a != b

    res, moved = jax.jit(jax.vmap(residual))(jnp.asarray(data.points), jnp.asarray(data.chart))
    assert np.max(np.abs(res)) < 1e-10 * float(jnp.max(jnp.abs(g))) and np.all(moved)


def test_run_directory_roundtrip_and_euler(tmp_path):

    _, module = compiled(K3)
    metric = dn.balanced(module, 2, points=8000, seed=0)
    metric.save(tmp_path / "run", {"sigma": 0.1})
    run = load_run(tmp_path / "run")
    assert run.model.name == "donaldson"
    data = sample(module, 20, seed=2)
    np.testing.assert_allclose(jax.vmap(run.metric)(data.points),
                               jax.vmap(metric.metric)(data.points), atol=1e-13)
    result = euler(run, n=1500, seed=4)
    assert result["route"] == "autodiff" and result["agrees"], result
    eta = dn.eta(metric, data)
    assert abs(measure_sigma(data.weights, eta) - dn.sigma(metric, data)) < 1e-15


# ----------------------------------------------------------------------------- CLI, train


def test_cli_json_and_errors(tmp_path):

    runner = CliRunner()
    res = runner.invoke(app, ["donaldson", str(K3), "--k", "1..2", "--points", "6000",
                              "--eval-points", "3000", "--ricci-points", "0", "--json",
                              "--out", str(tmp_path / "bal")])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert [r["k"] for r in rows] == [1, 2] and [r["n_sections"] for r in rows] == [4, 10]
    assert rows[1]["sigma"] < rows[0]["sigma"]
    assert (tmp_path / "bal" / "k2" / "checkpoint.npz").exists()
    bad = runner.invoke(app, ["donaldson", str(K3), "--k", "0..2"])
    assert bad.exit_code == 2 and "degrees must be >= 1" in bad.output


def _zero_phi(params):
    """phi = 0 and h = the balanced h (the trainable offset zeroed)."""
    return jax.tree.map(jnp.zeros_like, params)


@pytest.mark.slow
def test_phi_model_on_balanced_base():
    """make_model('phi', base=...) uses the balanced metric as g_base (what --init stores):
    held fixed (base_rate = 0, precomputed per point) or trainable (the default), which
    starts at the balanced metric and has a gradient in h."""

    _, module = compiled(K3)
    base = dn.init_base(module, "donaldson:2", points=6000)
    h = np.asarray(base["h_re"]) + 1j * np.asarray(base["h_im"])
    metric = dn.Balanced(module, (2,), np.asarray(base["exponents"]), h, base["scale"])
    data = sample(module, 8, seed=3)
    geo = module.GEOMETRY
    g_bal = jax.vmap(metric.metric_in)(data.points, data.chart)
    g_fs = jax.vmap(module.fs_metric)(data.points, data.chart)
    assert np.max(np.abs(g_bal - g_fs)) > 1e-3  # not FS
    for rate in (0.0, 0.1):
        cfg = resolve_config("phi", {"init": "donaldson:2",
                                     "model": {"widths": [8], "base": base, "base_rate": rate}})
        model = build_model(geo, cfg)
        params = model.init(jax.random.PRNGKey(0))
        assert ("h" in params) == (rate > 0)
        zero = _zero_phi(params)
        g = jax.jit(jax.vmap(lambda z, c, m=model, p=zero: m.metric(p, local(geo, z, c))))(
            data.points, data.chart)
        np.testing.assert_allclose(g, g_bal, atol=1e-12)
        if rate == 0:
            fixed = jax.vmap(lambda z, c, m=model: m.inputs(local(geo, z, c))[1])(
                data.points, data.chart)
            np.testing.assert_allclose(fixed, g_bal, atol=1e-12)
        else:
            def logdet(p, m=model):
                g = jax.vmap(lambda z, c: m.metric(p, local(geo, z, c)))(data.points,
                                                                                 data.chart)
                return jnp.sum(jnp.log(jnp.real(models.rt.det(g))))

            grad_h = jax.grad(logdet)(zero)["h"]
            assert float(jnp.max(jnp.abs(grad_h["re"]))) > 1e-6


def test_ldl_started_at_a_balanced_metric_is_that_metric():
    """start = "base": ldl in the balanced metric's Cholesky frame; with the last layers
    zeroed (L = D = 1) it is exactly the balanced metric (Kähler, consistent across charts)."""
    _, module = compiled(K3)
    geo = module.GEOMETRY
    base = dn.init_base(module, "donaldson:2", points=6000)
    h = np.asarray(base["h_re"]) + 1j * np.asarray(base["h_im"])
    metric = dn.Balanced(module, (2,), np.asarray(base["exponents"]), h, base["scale"])
    model = models.make_model(geo, "ldl", widths=[8], start="base", base=base)
    params = model.init(jax.random.PRNGKey(0))
    for net in ("lower", "diag"):
        params[net][-1] = jax.tree.map(jnp.zeros_like, params[net][-1])
    data = sample(module, 8, seed=3)
    g = jax.jit(jax.vmap(lambda z, c: model.metric(params, local(geo, z, c))))(
        data.points, data.chart)
    np.testing.assert_allclose(g, jax.vmap(metric.metric_in)(data.points, data.chart),
                               atol=1e-12)
    with pytest.raises(ValueError, match="balanced metric"):
        models.make_model(geo, "ldl", widths=[8], start="base")


@pytest.mark.slow
def test_train_init_donaldson(tmp_path):

    metrics = train(K3, tmp_path / "run", points=2000, epochs=1, model="phi",
                    init="donaldson:2", config={"model": {"widths": [16]},
                                                "eval": {"ricci_points": 0,
                                                         "kahler_points": 0}})
    run = load_run(tmp_path / "run")
    base = run.config["model"]["base"]
    assert run.config["init"] == "donaldson:2" and base["k"] == 2
    h = np.asarray(base["h_re"]) + 1j * np.asarray(base["h_im"])
    metric = dn.Balanced(run.module, (2,), np.asarray(base["exponents"]), h, base["scale"])
    data = sample(run.module, 10, seed=3)
    geo = run.module.GEOMETRY
    zero = _zero_phi(run.params)  # the run's trained h is an offset from the stored base
    assert float(np.max(np.abs(run.params["h"]["re"]))) > 0
    for z, c in zip(data.points, data.chart, strict=True):
        g_base = run.model.metric(zero, local(geo, z, c))
        np.testing.assert_allclose(g_base, metric.metric_in(z, c), atol=1e-12)
    assert metrics["sigma"] < metrics["sigma_fs"]


def test_init_spec_errors():
    with pytest.raises(CygenError, match="donaldson:K"):
        dn.init_base(K3, "donaldson:x")


# ----------------------------------------------------------------------------- slow


@pytest.mark.slow
def test_quintic_sigma_table():
    """sigma_k of the Fermat quintic within 0.01 of Douglas-Karp-Lukic-Reinbacher, k = 1..6."""
    rows = table(QUINTIC, range(1, 7), eval_points=40_000, seed=0)
    for row in rows:
        assert abs(row["sigma"] - SIGMA_DKLR[row["k"]]) < 0.01, row
        assert row["converged"]


@pytest.mark.slow
def test_tian_yau_k2():
    rows = table(TY, [1, 2], eval_points=20_000, seed=0)
    assert rows[1]["sigma"] < rows[0]["sigma"]
