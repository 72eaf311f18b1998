"""Harmonic Kodaira-Spencer representatives (`cygen harmonic`): the flat torus, where the
Ricci-flat metric is known, pins the normalisation; the pointwise pieces are intrinsic (the
same in every chart); the fit lowers the codifferential; FS measurably misses."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, newton_points, regular_charts
from typer.testing import CliRunner

from cygen.cli import app
from cygen.compiler.loader import load
from cygen.evaluate import harmonic as eh
from cygen.geometry import harmonic as hm
from cygen.geometry import moduli as km
from cygen.geometry import runtime as rt
from cygen.learn import sections as ls
from cygen.sampling.sampler import sample

M = ROOT / "manifolds"


def _flat_metric(geo):
    """The torus's Ricci-flat metric: g_{u ubar} = |Omega_u|^2 in every chart."""
    return lambda z, c: rt.omega_sq(geo, z, c) * jnp.eye(1, dtype=complex)


def test_orthonormal_frame_gives_the_pairing():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    g = a @ a.conj().T + np.eye(3)
    x, y = (rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3)) for _ in range(2))
    frob = np.sum(hm.orthonormal(g, x) * np.conj(hm.orthonormal(g, y)))
    assert np.isclose(hm.pairing(g, x, y), frob, rtol=1e-12)
    assert hm.pairing(g, x, x).real > 0


def test_basis_counts_and_charges():
    module = load(M / "dwork_quintic.cy")
    basis = hm.section_basis(module.GEOMETRY, 1)
    assert len(basis) == 25 * 25  # Z_j d/dZ_i times Z_a conj(Z_b) / |Z|^2
    groups = eh.basis_groups(module, 1)
    assert len(groups) == 1 and 0 < len(groups[0][1]) < len(basis)
    everything = eh.basis_groups(module, 1, symmetric=False)
    assert len(everything[0][1]) == len(basis)


def test_section_jets_match_nested_autodiff():
    """The product-rule jets (few distinct fields and functions) equal forward-mode
    derivatives of the sections themselves, element by element."""
    module = load(M / "dwork_quintic.cy")
    geo = module.GEOMETRY
    basis = hm.section_basis(geo, 1).subset(np.arange(0, 625, 37))
    z, c = (lambda d: (jnp.asarray(d.points[0]), int(d.chart[0])))(sample(module, 2, seed=2))
    zc = rt.chart_point(geo, z, c)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), c).pullback
    jet = jax.jit(lambda y: hm.section_jets(geo, basis, y, c))(z)

    @jax.jit
    def nested(zc, p):
        return {"value": hm.sections(geo, basis, zc, c),
                "d": hm.holomorphic_derivative(lambda y: hm.sections(geo, basis, y, c), zc, p),
                "dbar": hm.dbar_sections(geo, basis, zc, c),
                "d_dbar": hm.holomorphic_derivative(
                    lambda y: hm.dbar_sections(geo, basis, y, c), zc, p)}

    ref = nested(zc, p)
    for key, want in ref.items():
        want = np.asarray(want)
        assert np.abs(want).max() > 1e-3
        np.testing.assert_allclose(np.asarray(getattr(jet, key)), want, atol=1e-13 *
                                   np.abs(want).max() * 100)


def test_closed_form_fs_inverse(tmp_path):
    """conj(G)^-1 on a chart's variable coordinates, in closed form, inverts the compiled
    ambient FS metric restricted there, for unequal Kähler moduli too."""
    text = (M / "bicubic_family.cy").read_text().replace("ambient P2[x] * P2[y]",
                                                        "ambient P2[x] * P2[y]\nkahler 1, 2.5")
    (tmp_path / "b.cy").write_text(text)
    module = load(tmp_path / "b.cy")
    geo = module.GEOMETRY
    assert geo.kahler == (1.0, 2.5)
    data = sample(module, 4, seed=0)
    for z, c in zip(data.points, data.chart, strict=True):
        zc = rt.chart_point(geo, jnp.asarray(z), int(c))
        var = np.concatenate([geo.free[c], geo.dependent[c]])
        for scale in (1.0, 1.3 + 0.4j):  # in the chart's frame, and off it
            g_bar = np.conj(np.asarray(geo.fs_ambient(scale * zc))[np.ix_(var, var)])
            inv = np.asarray(km.fs_inverse(geo, scale * zc, jnp.asarray(var)))
            np.testing.assert_allclose(inv @ g_bar, np.eye(len(var)), atol=1e-12)


@pytest.mark.parametrize("source", ["dwork_quintic",
                                    pytest.param("tian_yau_family", marks=pytest.mark.slow)])
def test_sections_and_codifferentials_are_intrinsic(source):
    """<dbar sigma_I, dbar sigma_J>_g, |dbar^dagger dbar sigma_I|_g^2 of the FS metric and
    div_Omega sigma_I are functions on X: the same in every chart in which the point is
    regular (the codifferential, a third derivative of the implicit dependent coordinates,
    to 1e-5)."""
    module = load(M / f"{source}.cy")
    geo = module.GEOMETRY
    basis = hm.section_basis(geo, 1).subset(np.arange(0, 40 if source == "tian_yau_family"
                                                      else 625, 61))
    metric = partial(rt.fs_metric, geo)

    def local(z, c):
        zc = rt.chart_point(geo, z, c)
        p = rt.frame_at(geo, zc, geo.jacobian(zc), c).pullback
        jet = hm.section_jets(geo, basis, z, c)
        g = metric(z, c)
        dg = hm.holomorphic_derivative(lambda y: metric(y, c), zc, p)
        r = hm.codifferential(g, dg, jet.dbar, jet.d_dbar)
        bt = hm.orthonormal(g, jet.dbar).reshape(len(basis), -1)
        dlog_f = hm.holomorphic_derivative(lambda y: jnp.log(rt.omega_sq(geo, y, c)), zc, p)
        return (bt.conj() @ bt.T, jnp.einsum("ij,Ii,Ij->I", g, r, jnp.conj(r)),
                hm.divergence(jet, dlog_f))

    fn = jax.jit(local)
    data = sample(module, 4, seed=2)
    for z in data.points[:2]:
        charts = regular_charts(module, np.asarray(z))
        assert len(charts) >= 2
        ref = [np.asarray(v) for v in fn(jnp.asarray(z), charts[0])]
        assert all(np.abs(r).max() > 1e-6 for r in ref)
        for c in charts[1:]:
            out = fn(jnp.asarray(z), c)
            for got, want, tol in zip(out, ref, (1e-7, 1e-5, 1e-7), strict=True):
                np.testing.assert_allclose(np.asarray(got), want, rtol=tol, atol=1e-9)


def test_codifferential_vanishes_on_the_flat_torus_harmonic_form():
    """On the flat torus conj(f)/f d/du (x) dubar (f = Omega's coefficient) is harmonic:
    its codifferential vanishes pointwise in every chart, while the KS representative's
    does not (so the check can fail)."""
    module = load(M / "torus.cy", deformations="all")
    geo = module.GEOMETRY
    flat = _flat_metric(geo)

    def residuals(z, c):
        zc = rt.chart_point(geo, z, c)
        p = rt.frame_at(geo, zc, geo.jacobian(zc), c).pullback

        def harmonic(y):
            minor = geo.jacobian(y)[:, jnp.asarray(geo.dependent)[c]]
            f = 1.0 / rt.det(minor)
            return (jnp.conj(f) / f).reshape(1, 1, 1)

        def ks(y):
            return km.ks_point(geo, module.dp_dt, module.d2p_dzdt, y, c).m

        g, dg = flat(zc, c), hm.holomorphic_derivative(lambda y: flat(y, c), zc, p)
        return [jnp.abs(hm.codifferential(g, dg, e(zc), hm.holomorphic_derivative(e, zc, p)))
                for e in (harmonic, ks)]

    data = sample(module, 8, seed=1)
    for z, c in zip(data.points, data.chart, strict=True):
        r_h, r_ks = jax.jit(residuals)(jnp.asarray(z), int(c))
        assert float(r_h.max()) < 1e-9 * max(1.0, float(r_ks.max()))
        assert float(r_ks.max()) > 1e-3


def test_flat_torus_harmonic_metric_equals_the_metric_free_one():
    """The flat metric is Ricci-flat: G_harm agrees with the metric-free G; the same-point
    relative difference has an error bar far below either G's and is tiny (what remains is
    the degree-1 basis's incomplete harmonic projection); the sections remove almost all of
    the KS representative's codifferential; the fitted form has nearly constant norm."""
    module = load(M / "torus.cy", deformations="all")
    r = eh.harmonic(module, _flat_metric(module.GEOMETRY), n_fit=2000, n_eval=6000, degree=1)
    g_h, g_h_err = r["wp_metric_harmonic"]["re"][0][0], r["wp_metric_harmonic_err"][0][0]
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    assert abs(g_h - g) < 3 * np.hypot(g_err, g_h_err)
    assert g_h_err < 0.1 * g_err
    lift, lift_err = r["wp_metric_harmonic_lift"]["re"][0][0], \
        r["wp_metric_harmonic_lift_err"][0][0]
    assert abs(lift - g) < 3 * g_err and lift_err < 0.1 * g_err
    rel, rel_err = r["relative_difference"][0], r["relative_difference_err"][0]
    assert abs(rel) < 1e-3 and rel_err < 0.05 * g_err / g
    assert r["residual"][0] < 0.02 * r["residual_ks"][0]
    ks = r["wp_metric_ks_norm"]["re"][0][0]
    assert ks > g_h * 1.1  # the KS representative is not harmonic: its norm is larger
    assert r["sigma"] < 1e-12


def test_metric_free_g_is_the_same_for_every_lift():
    """G = E[tr(M' conj M')] - Cov(k') holds for any lift zeta + s (k' = k + div_Omega s):
    with arbitrary coefficients that triple the forms' norm, the metric-free G from the same
    points is unchanged within its error, and dropping div_Omega s from k' moves it by many
    error bars."""
    module = load(M / "torus.cy", deformations="all")
    fs = partial(rt.fs_metric, module.GEOMETRY)
    dirs, basis = eh.basis_groups(module, 1)[0]
    local = eh.local_fn(module, fs, basis, dirs)
    data = sample(module, 4000, 3, purpose="harmonic-eval")
    zero = np.zeros((len(basis), len(dirs)), complex)
    rng = np.random.default_rng(0)
    c = 0.3 * (rng.normal(size=zero.shape) + 1j * rng.normal(size=zero.shape))
    base, moved = eh.wp_harmonic(local, data, zero), eh.wp_harmonic(local, data, c)
    assert moved["harm"][0][0, 0].real > 2 * base["harm"][0][0, 0].real
    g0, g0_err = base["free"][0][0, 0].real, base["free"][1][0, 0]
    g1, g1_err = moved["free"][0][0, 0].real, moved["free"][1][0, 0]
    assert abs(g1 - g0) < 3 * np.hypot(g0_err, g1_err)

    def no_divergence(z, chart, w):
        out = local(z, chart, w)
        return out | {"div": jnp.zeros_like(out["div"])}

    wrong = eh.wp_harmonic(no_divergence, data, c)["free"][0][0, 0].real
    assert abs(wrong - g0) > 20 * np.hypot(g0_err, g1_err)


def test_difference_decomposition_is_exact_on_a_threefold():
    """G_harm - G_lift = Cov_w(e^, |eta|^2_g) + 2 E_w|eta_A|^2 + Var_w(k') holds exactly on
    the sample (quintic, FS): the metric-free trace pairing in chart coordinates and the
    g-orthonormal norms of the same forms agree, index order included."""
    module = load(M / "dwork_quintic.cy")
    r = eh.harmonic(module, partial(rt.fs_metric, module.GEOMETRY), n_fit=200, n_eval=400,
                    degree=0)
    diff = r["wp_metric_harmonic"]["re"][0][0] - r["wp_metric_harmonic_lift"]["re"][0][0]
    terms = [r["difference_terms"][name][0] for name in eh.TERMS]
    assert abs(diff) > 0.1 * r["wp_metric"]["re"][0][0]  # FS is far from Ricci-flat
    assert abs(sum(terms) - diff) < 1e-10 * abs(diff)
    assert terms[1] > 0 and terms[2] > 0


@pytest.mark.slow
def test_more_sections_remove_more_of_the_codifferential():
    """Degree k contains degree k - 1: on the same fit points the least-squares objective
    removed grows with the degree (FS on the torus), and the fitted form's codifferential on
    fresh points is far below the KS representative's."""
    module = load(M / "torus.cy", deformations="all")
    fs = partial(rt.fs_metric, module.GEOMETRY)
    data = sample(module, 1500, seed=0, purpose="harmonic-fit")
    removed = []
    for k in (0, 1, 2):
        dirs, basis = eh.basis_groups(module, k)[0]
        local = eh.local_fn(module, fs, basis, dirs)
        removed.append(eh.fit(local, data)[1]["objective_removed"][0])
    assert removed[0] == 0.0 < removed[1] <= removed[2] * (1 + 1e-9)
    r = eh.harmonic(module, fs, n_fit=1500, n_eval=1500, degree=1)
    assert r["residual"][0] < 0.05 * r["residual_ks"][0]


@pytest.mark.slow
def test_fubini_study_measurably_misses_the_metric_free_value():
    """FS is far from Ricci-flat on the quintic (sigma ~ 0.36): its harmonic G is many error
    bars away from the metric-free G (docs/moduli.md#harmonic-forms)."""
    module = load(M / "dwork_quintic.cy")
    fs = partial(rt.fs_metric, module.GEOMETRY)
    r = eh.harmonic(module, fs, n_fit=400, n_eval=2000, degree=0)
    g_h, g_h_err = r["wp_metric_harmonic"]["re"][0][0], r["wp_metric_harmonic_err"][0][0]
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    assert abs(g_h - g) > 5 * np.hypot(g_err, g_h_err)
    assert r["sigma"] > 0.2


def test_section_network_inputs_are_functions_on_projective_space():
    """The network's features are unchanged when each factor is rescaled by its own complex
    number, so a network section is a global section (Tian-Yau: two factors)."""
    geo = load(M / "tian_yau.cy").GEOMETRY
    rng = np.random.default_rng(3)  # the features live on the ambient space: any point
    z = jnp.asarray(rng.normal(size=8) + 1j * rng.normal(size=8))
    lam = jnp.where(jnp.asarray(geo.factor_of) == 0, 2.0 - 1.5j, -0.3 + 0.7j)
    f, f_scaled = ls.features(geo, z), ls.features(geo, lam * z)
    assert f.shape == (32,) and float(jnp.abs(f).max()) > 0.1
    np.testing.assert_allclose(np.asarray(f_scaled), np.asarray(f), atol=1e-14)


def test_network_section_jets_match_nested_autodiff():
    """dbar s and d dbar s of a network section by the product rule from the stored field
    jets (what training uses) equal nested forward-mode derivatives of the section."""
    module = load(M / "dwork_quintic.cy")
    geo = module.GEOMETRY
    net = ls.SectionNet(hm.section_basis(geo, 0), 2, (8,), "tanh")
    params = ls.init(jax.random.PRNGKey(1), geo, net)
    params[-1]["w"] = 0.3 * jax.random.normal(jax.random.PRNGKey(2), params[-1]["w"].shape)
    z = jnp.asarray(newton_points(module, 1, seed=5)[0])
    c = int(module.select_chart(z))
    zc = rt.chart_point(geo, z, c)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), c).pullback
    xi = hm.jets(lambda y: hm.sections(geo, net.fields, y, c), zc, p)
    zeros = jnp.zeros(())
    pt = ls.FitPoints(zc, p, *xi, *(zeros,) * 7)
    dbar, d_dbar = jax.jit(lambda q: ls._dbar_s(geo, net, q, pt))(params)
    _, _, want_dbar, want_d_dbar = hm.jets(lambda y: ls.section(geo, net, params, y, c), zc, p)
    want_dbar = np.moveaxis(np.asarray(want_dbar), 0, -1)  # (T, i, k)
    want_d_dbar = np.moveaxis(np.asarray(want_d_dbar), 1, -1)  # (l, T, i, k)
    for got, want in ((dbar, want_dbar), (d_dbar, want_d_dbar)):
        assert np.abs(want).max() > 1e-2
        np.testing.assert_allclose(np.asarray(got), want, atol=1e-12 * np.abs(want).max())


def test_network_loss_equals_the_linear_fit_for_constant_coefficients():
    """A network whose output is a constant a_F is the degree-0 section sum_F a_F xi_F: its
    training loss equals the basis machinery's weighted mean of |dbar^dagger(mu + sum_F a_F
    dbar xi_F)|_g^2 (and of the g-norm), on the quintic with FS (Christoffels non-zero)."""
    module = load(M / "dwork_quintic.cy")
    geo = module.GEOMETRY
    data = sample(module, 24, seed=6)
    (dirs, basis), = eh.basis_groups(module, 0, symmetric=False)
    metric = partial(rt.fs_metric, geo)
    geometry = eh.geometry_fn(module, basis, dirs)
    c = jnp.zeros((len(basis), len(dirs)))
    z, ch, w = (jnp.asarray(x) for x in (data.points, data.chart, data.weights))
    pts = jax.jit(jax.vmap(partial(eh._net_fit_point, module, metric, basis),
                           in_axes=(0, None, 0, 0)))(geometry(z, ch), c, ch, w)
    loc = eh.local_fn(module, metric, basis, dirs, geometry)(z, ch, w)
    net = ls.SectionNet(basis, len(dirs), (4,))
    params = ls.init(jax.random.PRNGKey(0), geo, net)
    a = np.random.default_rng(0).normal(size=(2, len(basis))) * 0.3
    params[-1]["b"] = jnp.asarray(a.ravel())
    coef = a[0] + 1j * a[1]
    r = loc["r_mu"][:, 0] + jnp.einsum("I,pIi->pi", coef, loc["r_b"])
    e = loc["mu"][:, 0] + jnp.einsum("I,pIij->pij", coef, loc["b"])
    v = loc["w"] * loc["eta"]
    for objective, per in (("residual", jnp.sum(jnp.abs(r) ** 2, -1)),
                           ("norm", jnp.sum(jnp.abs(e) ** 2, (-2, -1)))):
        got = float(ls.loss(geo, net, params, pts, objective))
        want = float(jnp.sum(v * per) / jnp.sum(v))
        assert want > 1e-3 and np.isclose(got, want, rtol=1e-10), objective


@pytest.mark.slow
def test_section_network_finds_the_flat_torus_harmonic_form():
    """With only the degree-0 sections (the fields, which leave the torus's KS form as it
    is) a section network trained by the codifferential, held-out stopping rule and all,
    removes almost all of it, and G_harm / G - 1 falls from tens of per cent to about one."""
    module = load(M / "torus.cy", deformations="all")
    prepared = eh.prepare(module, 1000, 2000)
    flat = _flat_metric(module.GEOMETRY)
    base = eh.harmonic(module, flat, degree=0, prepared=prepared)
    r = eh.harmonic(module, flat, degree=0, prepared=prepared,
                    network={"hidden": (32, 32), "epochs": 60})
    assert r["sections"] == "basis+network" and r["groups"][0]["network"]["epochs"] >= 10
    assert base["residual"][0] > 0.9 * base["residual_ks"][0]
    assert r["residual"][0] < 0.05 * r["residual_ks"][0]
    assert abs(base["relative_difference"][0]) > 0.1
    assert abs(r["relative_difference"][0]) < 0.02
    net = r["groups"][0]["network"]
    assert net["best"] < 0.05 * net["start"] and net["best"] == min(net["held_out"])


def test_cli_refuses_bad_options_cleanly(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["harmonic", str(M / "torus.cy"), "--objective", "energy"])
    assert res.exit_code == 2 and "objective" in res.output
    res = runner.invoke(app, ["harmonic", str(M / "torus.cy"), "--sections", "spline"])
    assert res.exit_code == 2 and "--sections" in res.output
    run = tmp_path / "run"
    run.mkdir()
    res = runner.invoke(app, ["harmonic", str(run)])
    assert res.exit_code == 2 and "run directory" in res.output


def test_cli_json_with_a_section_network(tmp_path):
    """`cygen harmonic --json --out` carries the issue's keys, the network's history and the
    same numbers in the file as on stdout; the table prints the network's line."""
    import json

    runner = CliRunner()
    out = tmp_path / "h.json"
    args = ["harmonic", str(M / "torus.cy"), "--deformations", "all", "--sections", "network",
            "--epochs", "2", "--width", "8", "--depth", "1", "-n", "300", "--fit-points", "300"]
    res = runner.invoke(app, [*args, "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got == json.loads(out.read_text())
    for key in ("wp_metric_harmonic", "wp_metric"):
        assert set(got[key]) == {"re", "im"} and got[key]["re"][0][0] > 0
    assert got["sections"] == "basis+network" and got["residual"][0] >= 0
    assert got["sigma"] > 0.05  # FS on the torus
    net = got["groups"][0]["network"]
    assert net["epochs"] == 2 and len(net["held_out"]) == 2
    res = runner.invoke(app, args)  # the table; the existing file is not touched
    assert res.exit_code == 0 and "section network" in res.output
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 2 and "exists" in res.output
