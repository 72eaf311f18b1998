"""Metric ansätze: the phi model's d dbar against jax.hessian, chart covariance, lift, MLPs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled, newton_points

from cygen.geometry import implicit
from cygen.geometry import local as G
from cygen.geometry import runtime as rt
from cygen.learn import jets as J
from cygen.learn import models as M
from cygen.learn.losses import second_chart
from cygen.learn.networks import ACTIVATIONS, activation_derivatives, mlp_init


@pytest.fixture(scope="module")
def quintic():
    module = compiled(ROOT / "manifolds" / "fermat_quintic.cy")[1]
    z = newton_points(module, 8, seed=4)
    charts = np.asarray(jax.vmap(module.select_chart)(z))
    return module, z, charts


def _locals(geo, z, charts):
    return jax.vmap(lambda zz, c: G.local(geo, zz, c))(jnp.asarray(z), jnp.asarray(charts))


def test_phi_metric_is_fs_plus_ambient_hessian_and_chart_covariant(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "phi", widths=[16, 16], activation="gelu", init_scale=1.0)
    params = model.init(jax.random.PRNGKey(1))

    @jax.jit
    @jax.vmap
    def check(zz, a):
        loc = G.local(geo, zz, a)
        g = model.metric(params, loc)
        n = zz.shape[0]

        def phi(x):  # H = d_m dbar_n phi on the real 2N-vector, then P H P^dagger
            return M.phi_value(params, geo, x[:n] + 1j * x[n:], "gelu")

        h = G.wirtinger(jax.hessian(phi)(jnp.concatenate([loc.zc.real, loc.zc.imag])), n)
        ref = loc.g_fs + loc.pullback @ h @ loc.pullback.conj().T
        b = second_chart(geo, zz)
        gb = model.metric(params, G.local(geo, zz, b))
        t = rt.transition(geo, zz, a, b)
        return g, ref, loc.g_fs, b, gb, t @ g @ t.conj().T

    g, ref, g_fs, b, gb, moved = (np.asarray(x) for x in check(jnp.asarray(z), charts))
    assert np.max(np.abs(ref - g_fs)) > 1e-3  # the network contributes
    np.testing.assert_allclose(g, ref, atol=1e-13)
    np.testing.assert_allclose(g, np.conj(np.swapaxes(g, 1, 2)), atol=1e-15)
    assert np.all(b != charts)
    np.testing.assert_allclose(gb, moved, atol=1e-11 * np.abs(gb).max())


def test_models_start_near_their_base_metric(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    models = {name: M.make_model(geo, name, widths=[8, 8]) for name in ("add", "mult", "ldl")}
    params = {name: m.init(jax.random.PRNGKey(0)) for name, m in models.items()}

    @jax.jit
    @jax.vmap
    def metrics(zz, c):
        loc = G.local(geo, zz, c)
        return loc.g_fs, {name: m.metric(params[name], loc) for name, m in models.items()}

    g_fs, gs = metrics(jnp.asarray(z), charts)
    for name, g in gs.items():
        g = np.asarray(g)
        np.testing.assert_allclose(g, np.conj(np.swapaxes(g, 1, 2)), atol=1e-14)
        assert np.all(np.linalg.eigvalsh(g) > 0)
        base = np.broadcast_to(np.eye(3), g.shape) if name == "ldl" else np.asarray(g_fs)
        assert np.max(np.abs(g - base)) < 0.1 * np.max(np.abs(base)), name


def test_ldl_started_at_fubini_study_is_fs_and_matches_across_charts(quintic):
    """start="fs": g = C (L D L^dagger) C^dagger with C C^dagger = g_FS; with the last layers
    zeroed (L = D = 1) it is exactly FS, hence g_b = T g_a T^dagger across charts."""
    module, z, charts = quintic
    geo = module.GEOMETRY
    model = M.make_model(geo, "ldl", widths=[8, 8], start="fs")
    params = model.init(jax.random.PRNGKey(0))
    for net in ("lower", "diag"):
        params[net][-1] = jax.tree.map(jnp.zeros_like, params[net][-1])

    @jax.jit
    @jax.vmap
    def both(zz, c):
        b = second_chart(geo, zz)
        ga = model.metric(params, G.local(geo, zz, c))
        gb = model.metric(params, G.local(geo, zz, b))
        t = rt.transition(geo, zz, c, b)
        return ga, gb, t @ ga @ t.conj().T, rt.fs_metric(geo, zz, c)

    ga, gb, pushed, fs = both(jnp.asarray(z), charts)
    np.testing.assert_allclose(ga, fs, atol=1e-12 * float(jnp.max(jnp.abs(fs))))
    np.testing.assert_allclose(gb, pushed, atol=1e-10 * float(jnp.max(jnp.abs(gb))))
    with pytest.raises(ValueError, match="start"):
        M.make_model(geo, "ldl", start="donaldson")


def test_activation_derivatives_match_autodiff():
    def grads(f, k):
        for _ in range(k):
            f = jax.grad(f)
        return jax.vmap(f)

    @jax.jit
    def both(s):
        return {name: (activation_derivatives(name, s, 4),
                       [f(s)] + [grads(f, k)(s) for k in range(1, 5)])
                for name, f in ACTIVATIONS.items()}

    for name, (jet, ref) in both(jnp.linspace(-3.0, 3.0, 13)).items():
        for x, y in zip(jet, ref, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-12, err_msg=name)


def test_lift_is_the_implicit_function(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    zz, c = jnp.asarray(z[0]), int(charts[0])

    @jax.jit
    def run(zz):
        loc = G.local(geo, zz, c)
        at0 = G.lift(geo, loc.zc, c, jnp.zeros(6))
        jac = jax.jacfwd(lambda t: G.lift(geo, loc.zc, c, t).zc)(jnp.zeros(6))
        moved = G.lift(geo, loc.zc, c, 1e-2 * jnp.arange(1.0, 7.0))
        return loc, at0, jac, moved, geo.equations(moved.zc)

    loc, at0, jac, moved, residual = run(zz)
    for x, y in zip(at0, loc, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-14)
    # d zc / d Re u_i is the i-th row of the pullback; the point stays on X
    np.testing.assert_allclose(jac[:, :3].T, loc.pullback, atol=1e-12)
    np.testing.assert_allclose(jac[:, 3:].T, 1j * loc.pullback, atol=1e-12)
    assert abs(residual[0]) < 1e-7
    assert np.all(np.isfinite(np.asarray(moved.g_fs)))


def test_second_chart_is_a_valid_other_chart(quintic):
    module, z, charts = quintic
    geo = module.GEOMETRY
    bs = np.asarray(jax.jit(jax.vmap(lambda zz: second_chart(geo, zz)))(jnp.asarray(z)))
    for zz, a, b in zip(z, charts, bs, strict=True):
        assert 0 <= b < len(module.SPEC["charts"]) and b != a
        assert module.SPEC["charts"][b]["affine"] != module.SPEC["charts"][a]["affine"]
        assert np.max(np.abs(np.asarray(rt.chart_point(geo, jnp.asarray(zz), b)))) < 1e3


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


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_cholesky_small_matches_lapack(k):
    """The unrolled Cholesky (no LAPACK custom call in per-point code) equals numpy's."""
    rng = np.random.default_rng(k)
    a = rng.normal(size=(k, k)) + 1j * rng.normal(size=(k, k))
    m = a @ a.conj().T + np.eye(k)
    c = np.asarray(jax.jit(rt.cholesky_small)(jnp.asarray(m)))
    np.testing.assert_allclose(c, np.linalg.cholesky(m), atol=1e-13)


def test_chart_coordinates_tell_apart_the_branches_over_one_u(quintic):
    """Over one value of the free coordinates u the quintic has five points (z4^5 = -(1 +
    u1^5 + u2^5 + u3^5)); the seed's inputs (u alone) cannot tell them apart, ours can."""
    module, _, _ = quintic
    geo = module.GEOMETRY
    free, dep = np.asarray(geo.free), np.asarray(geo.dependent)
    chart = int(np.flatnonzero((np.asarray(geo.affine)[:, 0] == 0) & (dep[:, 0] == 4))[0])
    assert sorted(free[chart]) == [1, 2, 3]
    u = np.array([0.3 + 0.1j, -0.2 + 0.4j, 0.1 - 0.3j])
    roots = np.roots([1, 0, 0, 0, 0, 1 + np.sum(u**5)])
    pts = [np.concatenate([[1.0], u, [r]]) for r in roots]
    assert max(abs(complex(module.equations(p)[0])) for p in pts) < 1e-12
    x = np.stack([np.asarray(M.chart_coordinates(geo, jnp.asarray(p), chart)) for p in pts])
    assert x.shape == (5, M.n_point_features(geo, "affine"))
    np.testing.assert_allclose(x[:, :3], np.broadcast_to(u.real, (5, 3)))  # the same u ...
    gaps = np.linalg.norm(x[:, None] - x[None], axis=-1) + np.eye(5)
    assert gaps.min() > 0.1  # ... but five different inputs


def test_chart_roles_identify_every_chart():
    module = compiled(ROOT / "manifolds" / "tian_yau.cy")[1]
    geo = module.GEOMETRY
    n = geo.free.shape[0]
    roles = np.asarray(jax.vmap(lambda c: M.chart_roles(geo, c))(jnp.arange(n)))
    assert n == 288 and roles.shape == (288, 16)
    assert len({r.tobytes() for r in roles}) == 288
    np.testing.assert_array_equal(roles[:, :8].sum(1), 2)  # one affine coordinate per factor
    np.testing.assert_array_equal(roles[:, 8:].sum(1), 3)  # three dependent coordinates


def test_invariant_inputs_are_the_same_point_in_every_chart(quintic):
    """inputs = "invariant": the point part of the input does not depend on the chart (only
    the roles do), unlike the affine coordinates."""
    module, z, charts = quintic
    geo = module.GEOMETRY
    n_x = M.n_point_features(geo, "invariant")
    for kind, same in (("invariant", True), ("affine", False)):
        model = M.make_model(geo, "ldl", widths=[4], inputs=kind)
        assert model.init(jax.random.PRNGKey(0))["diag"][0]["w"].shape[0] == \
            M.n_chart_inputs(geo, kind)

        @jax.jit
        @jax.vmap
        def both(zz, c, model=model):
            b = second_chart(geo, zz)
            return model.inputs(G.local(geo, zz, c)), model.inputs(G.local(geo, zz, b))

        xa, xb = both(jnp.asarray(z), charts)
        if same:
            np.testing.assert_allclose(xa[:, :n_x], xb[:, :n_x], atol=1e-12)
        else:
            assert np.max(np.abs(xa[:, :6] - xb[:, :6])) > 1e-3
        assert np.all(np.any(xa[:, -10:] != xb[:, -10:], axis=1))  # the roles differ
    with pytest.raises(ValueError, match="inputs"):
        M.make_model(geo, "ldl", widths=[4], inputs="u")


def test_one_jet_engine_for_training_and_curvature(quintic):
    """The trainer's per-channel d dbar phi, the engine's order-1 propagation and the m part
    of its order-2 propagation (what curvature uses) are one function; the order-1 feature
    jets are the order-2 ones truncated."""
    module, z, charts = quintic
    geo = module.GEOMETRY
    layers = mlp_init(jax.random.PRNGKey(3), [25, 16, 16, 1], 1.0)

    @jax.jit
    @jax.vmap
    def three(zz, c):
        jt = implicit.jets(geo, zz, c)
        order1 = J.feature_jets(geo, jt.zc, jt.pullback)
        order2 = J.feature_jets(geo, jt.zc, jt.pullback, jt.second)
        return (J.ddbar(layers, J.channels(order1), "gelu"),
                J.propagate(layers, order1, "gelu").m[..., 0],
                J.propagate(layers, order2, "gelu").m[..., 0],
                order1, order2)

    trained, first, second, order1, order2 = three(jnp.asarray(z), jnp.asarray(charts))
    scale = float(jnp.max(jnp.abs(second)))
    assert scale > 1e-3
    np.testing.assert_allclose(trained, first, atol=1e-14 * scale)
    np.testing.assert_allclose(first, second, atol=1e-14 * scale)
    for a, b in zip(order1[:3], order2[:3], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-14)
    assert order1.order == 1 and order2.order == 2
