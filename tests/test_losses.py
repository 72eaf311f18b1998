"""Loss terms on analytic cases, gradient flow for every term, exact micro-batching."""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled, newton_points, point_set

from cygen.compiler.analysis.topology import compute_topology, slope_targets
from cygen.core.errors import CygenError
from cygen.geometry import measure
from cygen.learn import losses as L
from cygen.learn import models as M
from cygen.learn.config import loss_powers, resolve_config
from cygen.learn.step import loss_and_grad
from cygen.sampling.sampler import sample


@pytest.fixture(scope="module")
def quintic():
    module = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    return module, sample(module, 6000, seed=21)  # 6000: test_sampling's compiled solver


def _stats(model, geo, terms, params, pts):
    return jax.vmap(lambda p: L.point_stats(model, geo, terms, params, p))(pts)


def test_sigma_vanishes_when_det_g_is_proportional_to_omega(quintic):
    module, data = quintic

    def apply(params, omega):  # c |Omega|^(2/n) I: det g = c^n |Omega|^2
        return params["c"] * omega ** (1 / 3) * jnp.eye(3, dtype=jnp.complex128)

    fake = M.Model("fake", 3, lambda key: {"c": 2.5}, lambda loc: None, apply, False)
    pts = L.Point(data.omega_sq, data.weights, data.omega_sq, data.omega_sq)
    st = jax.jit(lambda p, b: _stats(fake, module.GEOMETRY, ("sigma",), p, b))(
        {"c": jnp.asarray(2.5)}, pts)
    np.testing.assert_allclose(st["eta"], 2.5**3, rtol=1e-12)
    w = jnp.asarray(pts.weight)
    value = L.objective(st, w, L.constants(st, w), {"sigma": 1.0})[1]["sigma"]
    assert abs(float(value)) < 1e-12
    assert L.summarize(st, np.asarray(w), module.SPEC)["sigma"] < 1e-12


@pytest.fixture(scope="module")
def phi(quintic):
    """A phi model, its points (all terms), params with phi = 0 (exactly FS) and random ones."""
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[8], init_scale=1.0)
    params = model.init(jax.random.PRNGKey(5))
    fs = jax.tree.map(jnp.zeros_like, params)
    pts = L.prepare(model, geo, ("kahler", "transition", "volume"), data)
    return model, pts, fs, params


def test_sigma_of_fs_on_the_quintic(quintic, phi):
    module, data = quintic
    model, pts, fs, params = phi
    stats = jax.jit(lambda p, b: _stats(model, module.GEOMETRY, ("transition", "volume"), p, b))
    st = stats(fs, pts)
    np.testing.assert_allclose(st["eta"], pts.eta_fs, rtol=1e-12)
    out = L.summarize(st, pts.weight, module.SPEC)
    # reference 0.3728 +- 0.0005 (5M points); the spread from N points is about 0.28/sqrt(N)
    assert abs(out["sigma"] - 0.3728) < 4 * 0.28 / np.sqrt(len(data))
    assert out["sigma"] == pytest.approx(measure.sigma(data.weights, pts.eta_fs), rel=1e-12)
    assert out["sigma"] == pytest.approx(data.metadata["summary"]["sigma_fs"], rel=1e-12)
    # for FS on a hypersurface in one P^n the estimators are exact point by point
    np.testing.assert_allclose(out["slopes"], [5.0], rtol=1e-10)
    np.testing.assert_allclose(out["volume_mc"], 5 / 6, rtol=1e-10)
    assert out["volume"] < 1e-10
    # a globally defined phi: g_b = T g_a T^dagger to rounding, also away from FS
    st = stats(params, pts)
    assert np.max(st["transition"]) < 1e-10 and L.summarize(st, pts.weight,
                                                             module.SPEC)["sigma"] > 0.05


def test_slope_targets_are_exact_compile_time_facts():
    """The volume loss's targets int_X J^(n-1) ^ H_a come from the compiler, exactly."""
    quintic = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    assert quintic.SPEC["slope_targets_exact"] == ["5"]
    np.testing.assert_allclose(quintic.SPEC["slope_targets"], [5.0])
    bicubic = compute_topology([2, 2], [[3], [3]])  # H0^2 H1 = H0 H1^2 = 3
    # J = H0 + 2 H1: J^2 H0 = 2*2*3 (H0 H0 H1) + 4*3 (H0 H1 H1) = 24; J^2 H1 = 3 + 2*2*3 = 15
    assert slope_targets(bicubic, [1, 2]) == [24, 15]
    assert slope_targets(bicubic, [Fraction(1, 2), 1]) == [6, Fraction(15, 4)]
    curve = compute_topology([2], [[3]])
    assert slope_targets(curve, [2]) == [6]  # a curve: int J


TERMS = ("sigma", "kahler", "transition", "volume")


@pytest.fixture(scope="module")
def k3():
    """The quartic K3 (dim 2: small graphs) with an add model; any positive weights will do."""
    module = compiled(ROOT / "manifolds" / "k3_quartic.cy")[1]
    geo = module.GEOMETRY
    z = newton_points(module, 64, seed=2)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, 64)
    model = M.make_model(geo, "add", widths=[8], init_scale=1.0)
    pts = jax.tree.map(jnp.asarray, L.prepare(model, geo, TERMS, point_set(module, z, weights)))
    return module, model, model.init(jax.random.PRNGKey(3)), pts


def test_every_loss_term_trains_the_network(k3):
    """Each term alone gives a positive value and a nonzero gradient (add: not Kähler)."""
    module, model, params, pts = k3
    geo = module.GEOMETRY
    targets = np.asarray(module.SPEC["slope_targets"])
    pts = jax.tree.map(lambda a: a[:16], pts)

    @jax.jit
    def per_term(p, b):
        return {t: loss_and_grad(model, geo, {t: 1.0}, targets, None, p, b) for t in TERMS}

    for term, (values, grads) in per_term(params, pts).items():
        leaves = [np.asarray(g) for g in jax.tree.leaves(grads)]
        assert all(np.all(np.isfinite(g)) for g in leaves)
        assert set(values) == {term} and float(values[term]) > 0
        assert sum(float(np.sum(g**2)) for g in leaves) > 1e-12, f"{term}: no gradient"


def test_micro_batches_give_the_same_gradient(k3):
    module, model, params, pts = k3
    geo = module.GEOMETRY
    alphas = {"sigma": 1.0, "volume": 0.5, "transition": 0.3}
    targets = np.asarray(module.SPEC["slope_targets"])

    @jax.jit
    def both(p, b):
        return (loss_and_grad(model, geo, alphas, targets, None, p, b),
                loss_and_grad(model, geo, alphas, targets, 16, p, b))

    (v1, g1), (v2, g2) = both(params, pts)
    for k in alphas:
        np.testing.assert_allclose(v1[k], v2[k], rtol=1e-12)
    assert sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(g1)) > 0
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)


@pytest.mark.slow
def test_phi_is_kahler(phi, quintic):
    module = quintic[0]
    model, pts, _, params = phi
    small = jax.tree.map(lambda a: a[:16], pts)
    st = jax.jit(lambda p, b: _stats(model, module.GEOMETRY, ("kahler",), p, b))(params, small)
    assert np.max(st["kahler"]) < 1e-10


@pytest.mark.slow
def test_ricci_of_fs_and_its_gradient(quintic, phi):
    module = quintic[0]
    geo = module.GEOMETRY
    model, pts, fs, params = phi
    sub = jax.tree.map(lambda a: jnp.asarray(a[:2000]), pts)
    st = jax.jit(lambda p, b: _stats(model, geo, ("ricci",), p, b))(fs, sub)
    value = L.ricci_measure(sub.weight, st["eta"], st["ricci"], 3)
    assert 0.6 < value < 1.0  # cymetric: 0.7-0.9 for FS on the quintic
    small = jax.tree.map(lambda a: a[:8], sub)
    values, grads = jax.jit(lambda p, b: loss_and_grad(model, geo, {"ricci": 1.0}, None, None,
                                                       p, b))(params, small)
    assert float(values["ricci"]) > 0
    assert sum(float(jnp.sum(g**2)) for g in jax.tree.leaves(grads)) > 0


def test_relative_residuals_ignore_the_metric_scale_absolute_ones_do_not(k3):
    """kahler and transition residuals of c * g: unchanged ("relative", the default: the
    Chern torsion and g_b^-1 T g_a T^dagger - 1) or scaled by c ("absolute"); a squashed g
    cannot lower the relative ones (the ldl collapse that absolute residuals allowed)."""
    module, model, params, pts = k3
    geo = module.GEOMETRY
    pts = jax.tree.map(lambda a: a[:8], pts)
    out = {}
    for residuals in ("relative", "absolute"):
        base = M.make_model(geo, "add", widths=[8], init_scale=1.0, residuals=residuals)
        assert base.residuals == residuals
        for c in (1.0, 7.0):
            scaled = base._replace(apply=lambda p, x, c=c, b=base: c * b.apply(p, x))
            st = jax.jit(lambda p, b, m=scaled: _stats(m, geo, ("kahler", "transition"), p, b))(
                params, pts)
            out[residuals, c] = st
    for term in ("kahler", "transition"):
        rel1, rel7 = out["relative", 1.0][term], out["relative", 7.0][term]
        abs1, abs7 = out["absolute", 1.0][term], out["absolute", 7.0][term]
        assert float(jnp.min(rel1)) > 0 and float(jnp.min(abs1)) > 0
        np.testing.assert_allclose(rel7, rel1, rtol=1e-10)
        np.testing.assert_allclose(abs7, 7.0 * abs1, rtol=1e-10)
    with pytest.raises(ValueError, match="residuals"):
        M.make_model(geo, "add", residuals="bogus")


def test_exact_sigma_gradient_is_blind_to_scale_and_is_the_true_gradient(quintic):
    """exact_sigma: the gradient of sigma itself (eta_bar differentiated too).  sigma does not
    change when g is scaled, so its gradient along the scale direction (the bias of ldl's
    last diag layer, all entries equal) vanishes; with eta_bar held fixed it does not."""
    module, data = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "ldl", widths=[8], init_scale=1.0)
    params = model.init(jax.random.PRNGKey(2))
    pts = L.prepare(model, geo, ("sigma",), data.subset(slice(0, 512)))

    def true_sigma(p):
        st = _stats(model, geo, ("sigma",), p, pts)
        return L.objective(st, pts.weight, L.constants(st, pts.weight), {"sigma": 1.0})[1]["sigma"]

    grads = {exact: jax.jit(lambda p, e=exact: loss_and_grad(model, geo, {"sigma": 1.0}, None,
                                                           None, p, pts, e)[1])(params)
             for exact in (True, False)}
    reference = jax.grad(true_sigma)(params)
    for a, b in zip(jax.tree.leaves(grads[True]), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12 * (1 + float(jnp.max(jnp.abs(b)))))
    along_scale = {e: float(jnp.sum(g["diag"][-1]["b"])) for e, g in grads.items()}
    assert abs(along_scale[True]) < 1e-12
    assert abs(along_scale[False]) > 1e-3
    micro = jax.jit(lambda p: loss_and_grad(model, geo, {"sigma": 1.0}, None, 128, p, pts,
                                            True)[1])(params)
    for a, b in zip(jax.tree.leaves(micro), jax.tree.leaves(grads[True]), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12 * (1 + float(jnp.max(jnp.abs(b)))))


@pytest.mark.slow
def test_loss_power_trains_the_weighted_mean_of_squared_residuals(k3):
    """loss_power {kahler: 2, transition: 2}: the terms are sum w r^2 / sum w, their gradient
    is that of the squared mean (checked against jax.grad), micro-batching stays exact, and
    the config is checked."""
    module, model, params, pts = k3
    geo = module.GEOMETRY
    alphas = {"sigma": 1.0, "kahler": 0.7, "transition": 0.3}
    powers = loss_powers({"loss_power": {"kahler": 2, "transition": 2.0}})
    assert powers == (("kahler", 2.0), ("transition", 2.0))
    w = pts.weight

    def squared_means(p):
        st = _stats(model, geo, ("kahler", "transition"), p, pts)
        return {t: jnp.sum(w * st[t] ** 2) / jnp.sum(w) for t in ("kahler", "transition")}

    @jax.jit
    def both(p):
        return (loss_and_grad(model, geo, alphas, None, None, p, pts, False, powers),
                loss_and_grad(model, geo, alphas, None, 16, p, pts, False, powers),
                loss_and_grad(model, geo, alphas, None, None, p, pts, False, ()))

    (v2, g2), (vm, gm), (v1, _) = both(params)
    expected = squared_means(params)
    for t in ("kahler", "transition"):
        np.testing.assert_allclose(v2[t], expected[t], rtol=1e-12)
        assert abs(float(v2[t]) - float(v1[t]) ** 2) > 1e-6  # not the square of the mean
    reference = jax.grad(lambda p: sum(alphas[t] * v for t, v in squared_means(p).items()))(
        params)
    no_sigma = jax.jit(lambda p: loss_and_grad(model, geo, {"kahler": 0.7, "transition": 0.3},
                                               None, None, p, pts, False, powers)[1])(params)
    for a, b in zip(jax.tree.leaves(no_sigma), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)
    for a, b in zip(jax.tree.leaves(g2), jax.tree.leaves(gm), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-13)
    with pytest.raises(CygenError, match="loss_power.sigma: unknown key"):
        resolve_config("phi", {"loss_power": {"sigma": 2}})
    with pytest.raises(CygenError, match="greater than 0"):
        resolve_config("phi", {"loss_power": {"kahler": 0}})
    assert loss_powers({}) == () and loss_powers({"loss_power": {"kahler": 1}}) == ()
