"""Metric ansätze: the phi model's d dbar against jax.hessian, chart covariance, lift, MLPs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled, newton_points

from cygen import models as M
from cygen import runtime as rt
from cygen.losses import second_chart


@pytest.fixture(scope="module")
def quintic():
    module = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    z = newton_points(module, 8, seed=4)
    charts = np.asarray(jax.vmap(module.select_chart)(z))
    return module, z, charts


def _locals(geo, z, charts):
    return jax.vmap(lambda zz, c: M.local(geo, zz, c))(jnp.asarray(z), jnp.asarray(charts))


def test_phi_metric_is_fs_plus_pulled_back_ambient_hessian(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[16, 16], activation="gelu", init_scale=1.0)
    params = model.init(jax.random.PRNGKey(1))
    loc = _locals(geo, z, charts)
    g = jax.vmap(model.metric, in_axes=(None, 0))(params, loc)

    def reference(loc):  # H = d_m dbar_n phi on the real 2N-vector, then P H P^dagger
        n = loc.zc.shape[0]

        def phi(x):
            return M.phi_value(params, geo, x[:n] + 1j * x[n:], "gelu")

        h = M.wirtinger(jax.hessian(phi)(jnp.concatenate([loc.zc.real, loc.zc.imag])), n)
        return loc.g_fs + loc.pullback @ h @ loc.pullback.conj().T

    ref = jax.vmap(reference)(loc)
    assert np.max(np.abs(ref - loc.g_fs)) > 1e-3  # the network contributes
    np.testing.assert_allclose(g, ref, atol=1e-13)
    np.testing.assert_allclose(g, np.conj(np.swapaxes(g, 1, 2)), atol=1e-15)


def test_phi_metric_transforms_between_charts(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[16], activation="tanh", init_scale=1.0)
    params = model.init(jax.random.PRNGKey(2))
    for zz, a in zip(z, charts, strict=True):
        b = int(second_chart(geo, zz))
        assert b != a
        ga = model.metric(params, M.local(geo, zz, a))
        gb = model.metric(params, M.local(geo, zz, b))
        t = module.transition(zz, a, b)
        np.testing.assert_allclose(gb, t @ ga @ t.conj().T, atol=1e-11 * np.abs(gb).max())


def test_models_start_near_their_base_metric(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    loc = _locals(geo, z, charts)
    for name in ("phi", "add", "mult", "ldl"):
        model = M.make_model(geo, name, widths=[8, 8])
        params = model.init(jax.random.PRNGKey(0))
        g = np.asarray(jax.vmap(model.metric, in_axes=(None, 0))(params, loc))
        np.testing.assert_allclose(g, np.conj(np.swapaxes(g, 1, 2)), atol=1e-14)
        assert np.all(np.linalg.eigvalsh(g) > 0)
        base = np.broadcast_to(np.eye(3), g.shape) if name == "ldl" else np.asarray(loc.g_fs)
        assert np.max(np.abs(g - base)) < 0.1 * np.max(np.abs(base)), name


def test_activation_jets_match_autodiff():
    s = jnp.linspace(-3.0, 3.0, 13)
    for name, f in M.ACTIVATIONS.items():
        a, a1, a2 = M.activation_jet(name, s)
        d1 = jax.vmap(jax.grad(f))(s)
        d2 = jax.vmap(jax.grad(jax.grad(f)))(s)
        np.testing.assert_allclose(a, f(s), atol=1e-14)
        np.testing.assert_allclose(a1, d1, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(a2, d2, atol=1e-12, err_msg=name)


def test_lift_is_the_implicit_function(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    zz, c = jnp.asarray(z[0]), int(charts[0])
    loc = M.local(geo, zz, c)
    at0 = M.lift(geo, loc.zc, c, jnp.zeros(6))
    for x, y in zip(at0, loc, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-14)
    # d zc / d Re u_i is the i-th row of the pullback; the point stays on X
    jac = jax.jacfwd(lambda t: M.lift(geo, loc.zc, c, t).zc)(jnp.zeros(6))
    np.testing.assert_allclose(jac[:, :3].T, loc.pullback, atol=1e-12)
    np.testing.assert_allclose(jac[:, 3:].T, 1j * loc.pullback, atol=1e-12)
    moved = M.lift(geo, loc.zc, c, 1e-2 * jnp.arange(1.0, 7.0))
    assert abs(module.equations(moved.zc)[0]) < 1e-7
    assert np.all(np.isfinite(np.asarray(moved.g_fs)))


def test_second_chart_is_a_valid_other_chart(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    for zz, a in zip(z, charts, strict=True):
        b = int(second_chart(geo, zz))
        assert 0 <= b < len(module.SPEC["charts"]) and b != a
        assert module.SPEC["charts"][b]["affine"] != module.SPEC["charts"][a]["affine"]
        zb = rt.chart_point(geo, jnp.asarray(zz), b)
        assert np.max(np.abs(np.asarray(zb))) < 1e3
        assert np.isfinite(np.asarray(module.omega_sq(zz, b)))


def test_make_model_rejects_unknown_names(quintic):
    geo = quintic[0].GEOMETRY
    with pytest.raises(ValueError, match="unknown model"):
        M.make_model(geo, "nope")
    with pytest.raises(ValueError, match="unknown activation"):
        M.make_model(geo, "phi", activation="swish")


def test_cast_keeps_complex_and_integers():
    tree = {"a": jnp.ones(2), "b": jnp.ones(2, jnp.complex128), "c": jnp.arange(2)}
    out = M.cast(tree, jnp.float32)
    assert out["a"].dtype == jnp.float32 and out["b"].dtype == jnp.complex64
    assert out["c"].dtype == tree["c"].dtype
