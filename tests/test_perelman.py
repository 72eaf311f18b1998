"""Perelman's entropy with e^-f dV pinned to |Omega|^2 (cygen.geometry.riemannian,
cygen.learn.losses "dirichlet"/"perelman", the lambda schedule): the Levi-Civita scalar
curvature against closed forms, the Kähler degeneracy R = -Delta f (so F = 0) that
docs/training.md derives, the Dirichlet part zero on the flat torus and positive on FS, and
the config's refusal of F for phi."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import compiled

from cygen.core.errors import CygenError
from cygen.geometry import riemannian
from cygen.geometry import runtime as rt
from cygen.geometry.local import local_at
from cygen.learn import losses
from cygen.learn.config import resolve_config
from cygen.learn.models import Model, make_model, scale_outputs
from cygen.sampling.sampler import sample

ROOT = Path(__file__).resolve().parents[1]


def test_scalar_curvature_of_fubini_study_and_a_conformal_hermitian_metric():
    def fs(x):  # FS on P^2 in one chart: Ric = 3 g, so R = 4 * 3 * 2 in realify's units
        u = x[:2] + 1j * x[2:]
        q = 1 + jnp.real(jnp.vdot(u, u))
        return (jnp.eye(2) * q - jnp.outer(u.conj(), u)) / q**2

    x = jnp.array([0.3, -0.7, 0.2, 0.5])
    assert float(riemannian.scalar_curvature(fs, x)) == pytest.approx(24.0, rel=1e-12)

    def u_of(x):  # a conformal factor: e^{2u} delta is Hermitian but not Kähler on C^2
        return 0.3 * jnp.sin(x[0] + 2 * x[3]) + 0.2 * x[1] * x[2]

    def conformal(x):
        return jnp.exp(2 * u_of(x)) * jnp.eye(2, dtype=complex)

    jet = riemannian.function_jet(u_of, x)
    lap, grad_sq = jnp.trace(jet.hess), jnp.sum(jet.grad**2)  # flat Laplacian and |du|^2
    exact = -jnp.exp(-2 * u_of(x)) * (6 * lap + 6 * grad_sq)  # dimension 4
    assert float(riemannian.scalar_curvature(conformal, x)) == pytest.approx(float(exact),
                                                                            rel=1e-10)
    flat = riemannian.laplacian(conformal, x, jet)  # Delta_g u = e^{-2u}(Delta u + 2|du|^2)
    assert float(flat) == pytest.approx(float(jnp.exp(-2 * u_of(x)) * (lap + 2 * grad_sq)),
                                        rel=1e-10)


def _k3_points(n):
    _, module = compiled(ROOT / "manifolds" / "k3_quartic.cy")
    return module, sample(module, n, seed=3)


def _densities(model, geo, params, data):
    fn = jax.jit(jax.vmap(lambda z, c: losses.perelman_density(model, geo, params,
                                                                 rt.chart_point(geo, z, c), c)))
    return jax.tree.map(np.asarray, fn(jnp.asarray(data.points), jnp.asarray(data.chart)))


@pytest.mark.slow
def test_kahler_metrics_have_r_equal_minus_laplacian_of_the_dilaton():
    """For a Kähler metric the Ricci form is -i d dbar f (f = log det g/|Omega|^2), so
    R = -Delta f pointwise and Perelman's F is zero; a non-Kähler ldl metric breaks it."""
    module, data = _k3_points(6)
    geo = module.GEOMETRY
    phi = make_model(geo, "phi", widths=[8], init_scale=0.3)  # a Kähler metric, not FS
    d = _densities(phi, geo, phi.init(jax.random.PRNGKey(1)), data)
    assert np.all(np.abs(d["scalar"]) > 1.0) and np.all(d["grad_sq"] > 1e-3)
    assert np.max(np.abs(d["scalar"] + d["laplacian"]) / np.abs(d["scalar"])) < 1e-9
    ldl = make_model(geo, "ldl", widths=[8], init_scale=0.3, start="fs")
    d = _densities(ldl, geo, ldl.init(jax.random.PRNGKey(1)), data)
    assert np.min(np.abs(d["scalar"] + d["laplacian"]) / np.abs(d["scalar"])) > 1e-3


def _flat_torus_model(geo) -> Model:
    """The flat metric of the cubic torus: g = |Omega|^2 in every chart (eta = 1)."""
    def inputs(loc):
        return loc

    def apply(params, loc):
        minor = geo.jacobian(loc.zc)[:, jnp.asarray(geo.dependent)[loc.chart]]
        return (1.0 / jnp.abs(rt.det(minor)) ** 2).reshape(1, 1) + 0j

    return Model("flat", 1, lambda key: {}, inputs, apply, True)


def test_dirichlet_energy_is_zero_on_the_flat_torus_and_positive_on_fubini_study():
    _, module = compiled(ROOT / "manifolds" / "torus.cy")
    geo = module.GEOMETRY
    data = sample(module, 64, seed=0)
    flat = _densities(_flat_torus_model(geo), geo, {}, data)
    fs_model = make_model(geo, "phi", widths=[4], init_scale=1e-300)  # phi = 0: FS
    fs = _densities(fs_model, geo, fs_model.init(jax.random.PRNGKey(0)), data)
    w = data.weights
    dirichlet_fs = np.sum(w * fs["grad_sq"]) / np.sum(w)
    assert np.max(np.abs(flat["grad_sq"])) < 1e-20 * dirichlet_fs
    assert np.max(np.abs(flat["scalar"] + flat["grad_sq"])) < 1e-8 * dirichlet_fs
    assert dirichlet_fs > 0.1 and np.all(fs["grad_sq"] >= 0)
    # a curve's metrics are all Kähler: R = -Delta f pointwise (F = 0), R itself far from 0
    assert np.max(np.abs(fs["scalar"] + fs["laplacian"])) < 1e-9 * np.max(np.abs(fs["scalar"]))
    assert np.max(np.abs(fs["scalar"])) > 0.1 * dirichlet_fs
    pts = losses.prepare(fs_model, geo, ("perelman",), data)
    stats = jax.jit(lambda p, b: losses.batch_stats(fs_model, geo, ("perelman",), p, b))(
        fs_model.init(jax.random.PRNGKey(0)), pts)
    np.testing.assert_allclose(stats["dirichlet"], fs["grad_sq"], rtol=1e-10)
    np.testing.assert_allclose(stats["perelman"], fs["scalar"] + fs["grad_sq"], rtol=1e-8,
                               atol=1e-10 * dirichlet_fs)


def test_signed_terms_are_weighted_means_and_phi_refuses_perelman():
    rng = np.random.default_rng(0)
    w, eta = rng.uniform(0.5, 2, 16), rng.uniform(0.9, 1.1, 16)
    stats = {"eta": jnp.asarray(eta), "perelman": jnp.asarray(rng.normal(size=16)),
             "dirichlet": jnp.asarray(rng.uniform(size=16))}
    consts = losses.constants(stats, jnp.asarray(w))
    alphas = {"sigma": 1.0, "perelman": 0.5, "dirichlet": 2.0}
    surrogate, values = losses.objective(stats, jnp.asarray(w), consts, alphas)
    for name in ("perelman", "dirichlet"):  # signed: no absolute value
        assert float(values[name]) == pytest.approx(np.sum(w * stats[name]) / np.sum(w))
    assert float(surrogate) == pytest.approx(sum(a * float(values[k]) for k, a in alphas.items()))
    with pytest.raises(CygenError, match="vanishes identically on Kähler"):
        resolve_config("phi", {"loss": {"perelman": 1.0}})
    assert resolve_config("phi", {"loss": {"dirichlet": 1.0}})["loss"]["dirichlet"] == 1.0
    assert resolve_config("ldl", {"loss": {"perelman": 1.0}})["loss"]["perelman"] == 1.0


def test_ramp_scales_the_networks_part_from_the_kahler_start():
    _, module = compiled(ROOT / "manifolds" / "torus.cy")
    geo = module.GEOMETRY
    data = sample(module, 4, seed=1)
    for name in ("phi", "ldl"):
        opts = {"widths": [6], "init_scale": 0.5} | ({"start": "fs"} if name == "ldl" else {})
        plain = make_model(geo, name, **opts)
        ramp = make_model(geo, name, ramp_epochs=3, **opts)
        params = ramp.init(jax.random.PRNGKey(0))
        loc = jax.vmap(lambda z, c: rt.chart_point(geo, z, c))(jnp.asarray(data.points),
                                                               jnp.asarray(data.chart))
        locs = [local_at(geo, z, int(c)) for z, c in zip(loc, data.chart, strict=True)]
        for lam in (0.0, 0.4, 1.0):
            p = {**params, "ramp": jnp.asarray(lam)}
            scaled = scale_outputs(params["net"], lam)
            for lo in locs:
                np.testing.assert_allclose(ramp.metric(p, lo), plain.metric(scaled, lo),
                                           rtol=1e-12)
                if lam == 0.0:
                    np.testing.assert_allclose(ramp.metric(p, lo), lo.g_fs, rtol=1e-12)
        grads = jax.grad(lambda p, m=ramp, lo=locs[0]: jnp.real(m.metric(p, lo)[0, 0]))(
            {**params, "ramp": jnp.asarray(0.5)})
        assert float(grads["ramp"]) == 0.0
