"""Symmetry-aware models (model.symmetry): the compiler's invariants, their jets, and exact
invariance g(h . p) = h_* g(p) of the invariant and canonical models."""

from __future__ import annotations

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled, newton_points

from cygen.geometry import curvature as cv
from cygen.geometry import implicit
from cygen.geometry.local import local, wirtinger
from cygen.learn import jets as J
from cygen.learn import models as M
from cygen.learn import symmetric as S
from cygen.learn import symmetry_measure as sm
from cygen.learn.networks import mlp

MF = ROOT / "manifolds"


def _points(name, n=6, seed=3):
    module = compiled(MF / f"{name}.cy")[1]
    z = newton_points(module, n, seed)
    return module, z, np.asarray(jax.vmap(module.select_chart)(jnp.asarray(z)))


def _phase_group(spec):
    """Every phase element (units of 2 pi / N), by brute force over the generators' powers."""
    n = len(spec["coordinates"])
    gens = np.asarray(spec["symmetry_phase_generators"], int).reshape(-1, n)
    out = {tuple(np.zeros(n, int))}
    for _ in range(int(np.prod(spec["symmetry_phase_orders"] or [1]))):
        out |= {tuple((np.asarray(a) + g) % spec["symmetry_phase_denominator"])
                for a in out for g in gens}
    return np.array(sorted(out))


@pytest.mark.parametrize("name", ["k3_quartic", "tian_yau", "p5_33"])
def test_invariant_orbits_cover_every_invariant_monomial(name):
    """The orbits (with their conjugates) are exactly the monomials of bidegree (k_a, k_a)
    up to the listed degree that the whole phase group fixes, closed under the permutations,
    less the constants; each orbit is one permutation orbit."""
    spec = compiled(MF / f"{name}.cy")[1].SPEC
    table = spec["symmetry_invariants"]
    sizes = [d + 1 for d in spec["ambient"]]
    n = sum(sizes)
    phases = _phase_group(spec)
    listed = set()
    for orbit in table["orbits"]:
        terms = {(tuple(t[:n]), tuple(t[n:])) for t in orbit["terms"]}
        a, b = next(iter(terms))
        assert terms == {(tuple(np.asarray(a)[np.argsort(p)]), tuple(np.asarray(b)[np.argsort(p)]))
                         for p in spec["symmetry_permutations"]}
        conj = {(b, a) for a, b in terms}
        assert (conj == terms) == orbit["real"]
        listed |= terms | conj
    expected = set()
    bounds = np.cumsum([0, *sizes])
    for degree in range(1, table["degree"] + 1):
        for ks in itertools.product(range(degree + 1), repeat=len(sizes)):
            if sum(ks) != degree:
                continue
            per = [[e for e in itertools.product(range(k + 1), repeat=s) if sum(e) == k]
                   for s, k in zip(sizes, ks, strict=True)]
            monos = [sum(c, ()) for c in itertools.product(*per)]
            for a, b in itertools.product(monos, monos):
                charge = phases @ (np.asarray(a) - np.asarray(b))
                if np.all(charge % spec["symmetry_phase_denominator"] == 0):
                    expected.add((a, b))
    assert listed <= expected
    missing = expected - listed  # only the constants: |z_i|^2 products, one per factor
    assert all(a == b and all(sum(a[lo:hi]) <= 1 for lo, hi in itertools.pairwise(bounds))
               for a, b in missing)
    assert table["degree"] >= 2
    from cygen.cli.compile import info_dict

    inputs = S.invariants(spec, sizes).n_features
    assert info_dict(spec)["invariant_inputs"] == {"degree": table["degree"], "inputs": inputs}
    assert spec["symmetry_invariants"] == json.loads(json.dumps(table))  # plain data


@pytest.mark.parametrize("name", ["dwork_quintic", "tian_yau"])
def test_invariant_features_are_invariant_and_phi_is_their_potential(name):
    """F(h . z) = F(z) for sampled elements while F varies over X; the invariant phi model's
    metric (order-1 jets, the trainer's route) is g_FS + P H P^dagger with H the ambient
    Wirtinger Hessian of phi = MLP(F) by jax.hessian."""
    module, z, charts = _points(name)
    geo = module.GEOMETRY
    inv = S.invariants(module.SPEC, geo.factor_sizes)
    el = sm.sample_elements(module.SPEC, 6, seed=2)
    values = jax.vmap(lambda x: S.invariant_values(geo, inv, x))(jnp.asarray(z))
    moved = jax.vmap(lambda p, a: jax.vmap(lambda x: S.invariant_values(
        geo, inv, sm.act(p, a, x)))(jnp.asarray(z)))(jnp.asarray(el.perm), jnp.asarray(el.angle))
    assert float(jnp.max(jnp.abs(moved - values))) < 1e-14
    assert int(jnp.sum(jnp.std(values, axis=0) > 1e-3)) >= 3  # not constants
    model = S.symmetric_model(geo, module.SPEC, "phi", "invariant", widths=(6,),
                              activation="gelu", init_scale=1.0)
    params = M.cast(model.init(jax.random.PRNGKey(0)), np.float64)

    @jax.jit
    @jax.vmap
    def both(x, ch):
        loc = local(geo, x, ch)
        n = x.shape[0]

        def phi(r):
            return mlp(params["phi"], S.invariant_values(geo, inv, r[:n] + 1j * r[n:]),
                       "gelu")[0]

        h = wirtinger(jax.hessian(phi)(jnp.concatenate([loc.zc.real, loc.zc.imag])), n)
        return model.metric(params, loc), loc.g_fs + loc.pullback @ h @ loc.pullback.conj().T

    g, ref = both(jnp.asarray(z), jnp.asarray(charts))
    g_fs = jax.vmap(lambda x, ch: local(geo, x, ch).g_fs)(jnp.asarray(z), jnp.asarray(charts))
    assert float(jnp.max(jnp.abs(ref - g_fs))) > 1e-3  # phi contributes
    np.testing.assert_allclose(g, ref, atol=1e-13 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["torus", "k3_quartic", "tian_yau"])
def test_invariant_jets_of_order_two_match_autodiff(name):
    """The closed-form order-2 jets (curvature) equal nested autodiff of the invariant phi's
    metric; order 1 is order 2 truncated."""
    module, z, charts = _points(name, n=3)
    geo = module.GEOMETRY
    inv = S.invariants(module.SPEC, geo.factor_sizes)
    model = S.symmetric_model(geo, module.SPEC, "phi", "invariant", widths=(6,),
                              activation="gelu", init_scale=1.0)
    params = M.cast(model.init(jax.random.PRNGKey(0)), np.float64)

    def metric(x, ch):
        return model.metric(params, local(geo, x, ch))

    @jax.jit
    @jax.vmap
    def both(x, ch):
        return model.jet(params, geo, x, ch), cv.autodiff_jet(metric, geo, x, ch)

    zz, cc = jnp.asarray(z), jnp.asarray(charts)
    closed, auto = both(zz, cc)
    fs = jax.vmap(lambda x, ch: cv.fs_jet(geo, x, ch))(zz, cc)
    for a, b, f in zip(closed, auto, fs, strict=True):
        scale = float(jnp.max(jnp.abs(b)))
        assert float(jnp.max(jnp.abs(b - f))) > 1e-3 * scale  # phi contributes
        np.testing.assert_allclose(a, b, atol=1e-12 * scale)
    jt = jax.vmap(lambda x, ch: implicit.jets(geo, x, ch))(zz, cc)
    one = jax.vmap(lambda a, p: S.invariant_jets(geo, inv, a, p))(jt.zc, jt.pullback)
    two = jax.vmap(lambda a, p, q: S.invariant_jets(geo, inv, a, p, q))(jt.zc, jt.pullback,
                                                                        jt.second)
    for a, b in zip(one[:3], two[:3], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-14)
    assert isinstance(one, J.Jet) and two.order == 2


CASES = [("tian_yau", "phi", "invariant", {}), ("tian_yau", "phi", "canonical", {}),
         ("dwork_quintic", "phi", "canonical", {}), ("tian_yau", "ldl", "canonical", {}),
         ("tian_yau", "ldl", "canonical", {"networks": "per_class"}),
         ("torus", "add", "canonical", {"inputs": "invariant"})]


@pytest.mark.parametrize("name,model_name,symmetry,opts", CASES)
def test_symmetric_models_are_exactly_invariant(name, model_name, symmetry, opts):
    """Delta_sym (docs/symmetries.md) of an untrained network with a large last layer: of
    order one for the plain model, rounding for the symmetric one."""
    module, z, _ = _points(name)
    geo = module.GEOMETRY
    if opts.get("networks") == "per_class":
        opts = {**opts, "classes": M.patch_classes(module.SPEC)}
    found = {}
    for sym in ("none", symmetry):
        model = S.symmetric_model(geo, module.SPEC, model_name, sym, widths=(8,),
                                  init_scale=1.0, **opts)
        params = M.cast(model.init(jax.random.PRNGKey(0)), np.float64)
        found[sym] = sm.model_delta_sym(model, module, z, n_elements=8, seed=1)(params)
    assert found["none"] > 1e-2
    assert found[symmetry] < 1e-13


def test_canonical_element_lands_every_orbit_point_on_one_representative():
    module, z, _ = _points("dwork_quintic", n=4)
    geo = module.GEOMETRY
    grp = S.group(module.SPEC, geo)
    assert grp.angles.shape[0] == 125 and grp.perms.shape[0] == 120
    el = sm.sample_elements(module.SPEC, 5, seed=4)

    def rep(x):
        perm, angle, _ = S.canonical_element(geo, grp, x)
        w = sm.act(perm, angle, x)
        return jnp.outer(w, jnp.conj(w)) / jnp.vdot(w, w)  # the projective point

    base = jax.vmap(rep)(jnp.asarray(z))
    moved = jax.vmap(lambda p, a: jax.vmap(lambda x: rep(sm.act(p, a, x)))(jnp.asarray(z)))(
        jnp.asarray(el.perm), jnp.asarray(el.angle))
    assert float(jnp.max(jnp.abs(moved - base))) < 1e-14
    # the representative's |z_i|^2 are in the order the score prefers (not the input's)
    first = jnp.outer(z[0], z[0].conj()) / np.vdot(z[0], z[0])
    assert float(jnp.max(jnp.abs(base[0] - first))) > 1e-3


def test_invariant_is_refused_for_chart_metric_models():
    module = compiled(MF / "torus.cy")[1]
    with pytest.raises(ValueError, match="scalar potential"):
        S.symmetric_model(module.GEOMETRY, module.SPEC, "ldl", "invariant", widths=(4,))
    with pytest.raises(ValueError, match="symmetry must be"):
        S.symmetric_model(module.GEOMETRY, module.SPEC, "phi", "mirror", widths=(4,))


@pytest.mark.parametrize("symmetry", ["invariant", "canonical"])
def test_a_trained_symmetric_run_reloads_invariant(symmetry, tmp_path):
    """model.symmetry through the trainer, the run directory and the loader: the reloaded
    run's metric is exactly invariant, its config records the option, and the run trains."""
    from cygen.learn.runs import load_run
    from cygen.learn.trainer import train

    module = compiled(MF / "torus.cy")[1]
    config = {"model": {"widths": [8], "activation": "gelu", "symmetry": symmetry},
              "steps_per_call": 5, "eval": {"kahler_points": 0, "ricci_points": 0}}
    metrics = train(module, tmp_path / "run", points=600, epochs=2, config=config)
    assert metrics["status"] == "completed" and metrics["sigma"] < metrics["sigma_fs"]
    run = load_run(tmp_path / "run")
    assert run.config["model"]["symmetry"] == symmetry
    z = newton_points(module, 16, seed=9)
    assert sm.delta_sym(run.metric_in, module, z, n_elements=8, seed=3) < 1e-13


def test_the_cli_refuses_invariant_for_a_chart_metric_model(tmp_path):
    from typer.testing import CliRunner

    from cygen.cli import app

    cfg = tmp_path / "run.toml"
    cfg.write_text('[model]\nsymmetry = "invariant"\n')
    result = CliRunner().invoke(app, ["train", str(MF / "torus.cy"), "--out",
                                      str(tmp_path / "run"), "--model", "ldl", "--config",
                                      str(cfg), "--points", "100", "--epochs", "1"])
    assert result.exit_code == 2, result.output
    assert "symmetry" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_canonical_on_a_trivial_group_is_the_plain_model():
    """The generic bicubic has no symmetry: the canonical element is the identity and the
    canonical model's metric is the plain one, parameter for parameter."""
    module, z, charts = _points("bicubic_generic", n=4)
    geo = module.GEOMETRY
    plain = S.symmetric_model(geo, module.SPEC, "phi", "none", widths=(8,), init_scale=1.0)
    canon = S.symmetric_model(geo, module.SPEC, "phi", "canonical", widths=(8,), init_scale=1.0)
    params = M.cast(plain.init(jax.random.PRNGKey(0)), np.float64)

    @jax.jit
    @jax.vmap
    def both(x, ch):
        loc = local(geo, x, ch)
        return plain.metric(params, loc), canon.metric(params, loc)

    a, b = both(jnp.asarray(z), jnp.asarray(charts))
    np.testing.assert_allclose(b, a, atol=1e-13 * float(jnp.max(jnp.abs(a))))
