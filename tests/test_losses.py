"""Loss terms on analytic cases, gradient flow for every term, exact micro-batching."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled

from cygen import losses as L
from cygen import measure
from cygen import models as M
from cygen import runtime as rt
from cygen.sampling import sample
from cygen.train import loss_and_grad


@pytest.fixture(scope="module")
def quintic():
    module = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    return module, sample(module, 4000, seed=21)


def _stats(model, geo, terms, params, pts):
    return jax.vmap(lambda p: L.point_stats(model, geo, terms, params, p))(pts)


def test_sigma_vanishes_when_det_g_is_proportional_to_omega(quintic):
    module, data = quintic
    geo = module.GEOMETRY

    def inputs(loc):  # |Omega|^2 in the chart, from the chart's minor
        minor = geo.jacobian(loc.zc)[:, jnp.asarray(geo.dependent)[loc.chart]]
        return 1.0 / jnp.abs(rt.det(minor)) ** 2

    def apply(params, omega):  # c |Omega|^(2/n) I: det g = c^n |Omega|^2
        return params["c"] * omega ** (1 / 3) * jnp.eye(3, dtype=jnp.complex128)

    fake = M.Model("fake", 3, lambda key: {"c": 2.5}, inputs, apply, False)
    pts = L.prepare(fake, geo, ("sigma",), data.points[:1000], data.weights[:1000])
    st = _stats(fake, geo, ("sigma",), {"c": jnp.asarray(2.5)}, pts)
    np.testing.assert_allclose(st["eta"], 2.5**3, rtol=1e-12)
    w = jnp.asarray(pts.weight)
    value = L.objective(st, w, L.constants(st, w), {"sigma": 1.0})[1]["sigma"]
    assert abs(float(value)) < 1e-12
    assert L.summarize(st, np.asarray(w), module.SPEC)["sigma"] < 1e-12


def test_sigma_of_fs_on_the_quintic(quintic):
    module, data = quintic
    geo = module.GEOMETRY
    fs = M.make_model(geo, "phi", widths=[4], init_scale=0.0)  # phi = const: exactly FS
    pts = L.prepare(fs, geo, ("volume",), data.points, data.weights)
    st = _stats(fs, geo, ("volume",), M.cast(fs.init(jax.random.PRNGKey(0)), jnp.float64), pts)
    np.testing.assert_allclose(st["eta"], pts.eta_fs, rtol=1e-12)
    out = L.summarize(st, pts.weight, module.SPEC)
    # reference 0.3728 +- 0.0005 (5M points); the spread from N points is about 0.28/sqrt(N)
    assert abs(out["sigma"] - 0.3728) < 4 * 0.28 / np.sqrt(len(data))
    assert out["sigma"] == measure.sigma(data.weights, pts.eta_fs)
    # for FS on a hypersurface in one P^n the estimators are exact point by point
    np.testing.assert_allclose(out["slopes"], [5.0], rtol=1e-10)
    np.testing.assert_allclose(out["volume_mc"], 5 / 6, rtol=1e-10)
    assert out["volume"] < 1e-10


def test_slope_targets_from_intersection_numbers():
    quintic = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    np.testing.assert_allclose(L.slope_targets(quintic.SPEC), [5.0])
    spec = {"kahler": [1.0, 2.0], "dimension": 3,
            "intersection_numbers": {(0, 0, 1): 3, (0, 1, 1): 3}}
    # J = H0 + 2 H1: J^2 H0 = 2*2*3 (H0 H0 H1) + 4*3 (H0 H1 H1) = 24; J^2 H1 = 3 + 2*2*3 = 15
    np.testing.assert_allclose(L.slope_targets(spec), [24.0, 15.0])


def _grad_norms(model, geo, alphas, params, pts, micro=None):
    targets = np.asarray([5.0])
    values, grads = jax.jit(
        lambda p, b: loss_and_grad(model, geo, alphas, targets, micro, p, b))(params, pts)
    leaves = jax.tree.leaves(grads)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in leaves)
    return values, grads, sum(float(jnp.sum(g**2)) for g in leaves) ** 0.5


@pytest.mark.parametrize("term", ["sigma", "kaehler", "transition", "volume"])
def test_every_loss_term_trains_the_network(quintic, term):
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "add", widths=[8], init_scale=1.0)
    params = model.init(jax.random.PRNGKey(3))
    pts = jax.tree.map(jnp.asarray, L.prepare(model, geo, (term,), data.points[:32],
                                              data.weights[:32]))
    values, _, norm = _grad_norms(model, geo, {term: 1.0}, params, pts)
    assert set(values) == {term} and float(values[term]) > 0
    assert norm > 1e-6, f"{term} contributes no gradient"


def test_phi_is_kaehler_and_patch_consistent(quintic):
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[8], init_scale=1.0)
    params = model.init(jax.random.PRNGKey(5))
    terms = ("kaehler", "transition")
    pts = L.prepare(model, geo, terms, data.points[:16], data.weights[:16])
    st = _stats(model, geo, terms, params, pts)
    assert np.max(st["kaehler"]) < 1e-10
    assert np.max(st["transition"]) < 1e-10
    add = M.make_model(geo, "add", widths=[8], init_scale=1.0)
    pts = L.prepare(add, geo, terms, data.points[:16], data.weights[:16])
    st = _stats(add, geo, terms, add.init(jax.random.PRNGKey(5)), pts)
    assert np.min(st["kaehler"]) > 1e-4 and np.min(st["transition"]) > 1e-4


def test_micro_batches_give_the_same_gradient(quintic):
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[8, 8], init_scale=1.0)
    params = model.init(jax.random.PRNGKey(7))
    alphas = {"sigma": 1.0, "volume": 0.5}
    pts = jax.tree.map(jnp.asarray, L.prepare(model, geo, tuple(alphas), data.points[:64],
                                              data.weights[:64]))
    v1, g1, norm = _grad_norms(model, geo, alphas, params, pts)
    v2, g2, _ = _grad_norms(model, geo, alphas, params, pts, micro=16)
    assert norm > 0
    for k in alphas:
        np.testing.assert_allclose(v1[k], v2[k], rtol=1e-12)
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)


@pytest.mark.slow
def test_ricci_of_fs_and_its_gradient(quintic):
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[8], init_scale=0.0)
    params = M.cast(model.init(jax.random.PRNGKey(0)), jnp.float64)
    pts = L.prepare(model, geo, ("ricci",), data.points[:2000], data.weights[:2000])
    st = _stats(model, geo, ("ricci",), params, pts)
    measure_ = L.ricci_measure(pts.weight, st["eta"], st["ricci"], 3)
    assert 0.6 < measure_ < 1.0  # cymetric: 0.7-0.9 for FS on the quintic
    # a positive constant: R(FS) = tr(g^-1 Ric) with Ric = -d dbar log det g_FS
    model = M.make_model(geo, "phi", widths=[8], init_scale=1.0)
    small = jax.tree.map(lambda a: a[:8], jax.tree.map(jnp.asarray, pts))
    _, _, norm = _grad_norms(model, geo, {"ricci": 1.0}, model.init(jax.random.PRNGKey(1)),
                             small)
    assert norm > 0
