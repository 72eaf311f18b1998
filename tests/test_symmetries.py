"""Symmetry groups, patch classes and the symmetry-learning measure Delta_sym."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from conftest import ROOT, compiled, newton_points
from hypothesis import given, settings
from hypothesis import strategies as st

from cygen.compiler.analysis.symmetries import _closure
from cygen.learn import symmetry_measure as sm

M = ROOT / "manifolds"

# name -> (|P| permutations, |Phi| phases mod scalars, order, n_charts, patch classes, seed's)
EXPECTED = {
    "torus": (6, 9, 54, 6, 1, 1),  # S3 x| Z3^2
    "k3_quartic": (24, 64, 1536, 12, 1, 1),  # S4 x| Z4^3
    "fermat_quintic": (120, 625, 75000, 20, 1, 1),  # S5 x| Z5^4
    "dwork_quintic": (120, 125, 15000, 20, 1, 1),  # phases with product 1
    "tian_yau": (48, 27, 1296, 288, 7, 4),  # (S4 diagonal x x<->y) x| Z3^3
    "p5_33": (1, 27, 27, 60, 60, 6),
    "bicubic_generic": (1, 1, 1, 36, 36, 18),
    "schoen": (1, 1, 1, 144, 144, 54),
}


def ir_of(name: str):
    return compiled(M / f"{name}.cy")[0].ir


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_group_orders_and_classes(name):
    n_perm, n_phase, order, n_charts, n_classes, n_seed = EXPECTED[name]
    sym = ir_of(name).symmetry
    assert (len(sym.permutations), sym.phase_order, sym.order) == (n_perm, n_phase, order)
    assert sym.continuous == 0
    assert len(sym.class_of_chart) == n_charts
    assert len(sym.patch_classes) == n_classes
    assert len(sym.seed_classes) == n_seed
    assert sorted(c for cls in sym.patch_classes for c in cls) == list(range(n_charts))


def test_tian_yau_classes_documented():
    sym = ir_of("tian_yau").symmetry
    assert [len(c) for c in sym.patch_classes] == [48, 24, 48, 48, 48, 24, 48]
    assert [len(c) for c in sym.seed_classes] == [36, 36, 108, 108]
    assert len(sym.seed_classes_full) == 2  # the x<->y swap merges the dependent patterns
    swap = (4, 5, 6, 7, 0, 1, 2, 3)
    assert swap in sym.permutations


def test_generators_generate_the_permutations():
    for name in ("fermat_quintic", "tian_yau", "torus"):
        sym = ir_of(name).symmetry
        n = len(sym.permutations[0])
        perms = [g.perm for g in sym.generators if any(g.perm[i] != i for i in range(n))]
        assert _closure(perms, n) == set(sym.permutations)
        assert len(sym.generators) <= 8


def _brute_force_phases(module, n_coords: int, denominator: int, firsts: list[int]) -> int:
    """Count phase vectors (mod scalars) mapping points of X into X, numerically."""
    z = newton_points(module, 3, 7)
    eqs = jax.vmap(module.equations)
    count = 0
    free = [i for i in range(n_coords) if i not in firsts]
    for a in itertools.product(range(denominator), repeat=len(free)):
        phase = np.zeros(n_coords)
        phase[free] = a
        w = z * np.exp(2j * np.pi * phase / denominator)
        count += bool(np.max(np.abs(eqs(w))) < 1e-9)
    return count


@pytest.mark.parametrize("name,n,firsts", [("torus", 3, [0]), ("dwork_quintic", 5, [0])])
def test_phase_group_against_brute_force(name, n, firsts):
    _, module = compiled(M / f"{name}.cy")
    sym = ir_of(name).symmetry
    assert _brute_force_phases(module, n, sym.denominator, firsts) == sym.phase_order


def test_dwork_at_psi_zero_is_fermat():
    from cygen.compiler.pipeline import compile_file

    sym = compile_file(M / "dwork_quintic.cy", ["psi=0"]).ir.symmetry
    assert sym.order == 75000


@pytest.mark.parametrize("name", ["fermat_quintic", "dwork_quintic", "tian_yau", "p5_33"])
def test_sampled_elements_preserve_the_variety(name):
    _, module = compiled(M / f"{name}.cy")
    z = jnp.asarray(newton_points(module, 4, 3))
    el = sm.sample_elements(module.SPEC, 16, seed=1)
    images = jax.vmap(lambda p, a: jax.vmap(lambda q: sm.act(p, a, q))(z))(
        jnp.asarray(el.perm), jnp.asarray(el.angle))
    res = jax.vmap(jax.vmap(module.equations))(images)
    assert float(jnp.max(jnp.abs(res))) < 1e-9
    # a non-symmetry (a single phase of order 7) moves points off X
    w = z * jnp.exp(2j * jnp.pi * jnp.eye(z.shape[1])[1] / 7)
    assert float(jnp.max(jnp.abs(jax.vmap(module.equations)(w)))) > 1e-3


def test_determinism_of_the_analysis():
    from cygen.compiler.pipeline import compile_file

    a = compile_file(M / "tian_yau.cy").ir.symmetry
    b = ir_of("tian_yau").symmetry
    assert a == b


def test_spec_and_info_keys():
    from cygen.cli.compile import info_dict

    result, module = compiled(M / "fermat_quintic.cy")
    spec = module.SPEC
    assert spec["symmetry_order"] == 75000
    assert spec["patch_classes"] == [list(range(20))]
    assert spec["patch_class_of_chart"] == [0] * 20
    info = info_dict(spec)
    assert info["symmetry_order"] == 75000 and info["n_patch_classes"] == 1
    assert info["patch_classes"] == [list(range(20))]
    # every chart's map sends it to its class representative
    for c, perm in enumerate(spec["patch_class_maps"]):
        rep = spec["patch_classes"][spec["patch_class_of_chart"][c]][0]
        assert sm.chart_images(spec, perm)[c] == rep


@pytest.mark.parametrize("name", ["fermat_quintic", "torus"])
def test_delta_sym_vanishes_for_fubini_study(name):
    _, module = compiled(M / f"{name}.cy")
    pts = newton_points(module, 32, 0)
    assert sm.delta_sym(module.fs_metric, module, pts, n_elements=6, seed=0) < 1e-12


def test_delta_sym_detects_a_non_invariant_metric():
    _, module = compiled(M / "torus.cy")
    pts = newton_points(module, 32, 0)

    def skewed(z, chart):  # not invariant: singles out the coordinate z0
        return module.fs_metric(z, chart) * (1.0 + 0.5 * jnp.abs(module.normalize(z)[0]) ** 2)

    assert sm.delta_sym(skewed, module, pts, n_elements=6, seed=0) > 1e-2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dwork_quintic", "tian_yau"])
def test_delta_sym_vanishes_for_fubini_study_slow(name):
    _, module = compiled(M / f"{name}.cy")
    pts = newton_points(module, 32, 0)
    assert sm.delta_sym(module.fs_metric, module, pts, n_elements=6, seed=0) < 1e-12


@pytest.mark.parametrize("name,n_classes,charts", [
    ("fermat_quintic", 1, (0, 7, 19)),
    pytest.param("tian_yau", 7, (0, 17, 100, 287), marks=pytest.mark.slow),
])
def test_per_class_ldl_is_chart_covariant(name, n_classes, charts):
    """Each chart's metric is the class network's, evaluated at the point moved into the class
    representative chart by a symmetry, pulled back by the (0/1) chart Jacobian."""
    from cygen.geometry.local import local
    from cygen.learn.models import make_model, patch_classes

    _, module = compiled(M / f"{name}.cy")
    geo, spec = module.GEOMETRY, module.SPEC
    classes = patch_classes(spec)
    net = make_model(geo, "ldl", widths=[8], init_scale=0.5, networks="per_class",
                     classes=classes)
    params = net.init(jax.random.PRNGKey(0))
    assert all(x.shape[0] == n_classes for x in jax.tree.leaves(params))  # one network per class
    z = newton_points(module, 3, 5)
    metric = jax.jit(lambda y, c: net.metric(params, local(geo, y, c)))
    for p in z:
        for c in charts:
            perm = classes.maps[c]
            rep = int(classes.representative[c])
            g = metric(jnp.asarray(p), c)
            q = np.zeros_like(p)
            q[perm] = p
            t = sm.jacobian(module, jnp.asarray(perm), jnp.zeros(len(p)), c, rep)
            g_rep = metric(jnp.asarray(q), rep)
            np.testing.assert_allclose(g, t @ g_rep @ t.conj().T, atol=1e-12)
            np.testing.assert_allclose(g, g.conj().T, atol=1e-12)
    # Delta_sym of the (untrained, not exactly invariant) per-class model: finite, positive
    delta = sm.model_delta_sym(net, module, z, n_elements=2)(params)
    assert 0.0 < delta < 10.0


@pytest.mark.slow
def test_training_logs_delta_sym(tmp_path):
    import json

    from cygen.learn.trainer import train
    from cygen.sampling.sampler import sample

    _, module = compiled(M / "torus.cy")
    sample(module, 600, seed=3).save(tmp_path / "t.npz")
    cfg = {"model": {"widths": [8], "networks": "per_class"}, "batch_size": 64,
           "steps_per_call": 4, "eval": {"kahler_points": 0, "ricci_points": 0,
                                         "symmetry_points": 32}}
    train(module, tmp_path / "run", data=tmp_path / "t.npz", epochs=1, model="ldl", config=cfg)
    (line,) = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert 0.0 <= line["delta_sym"] < 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(-4, 4), min_size=4, max_size=4), min_size=1, max_size=12))
def test_the_lattice_basis_spans_the_same_lattice(rows):
    """The phase group's Smith normal form runs on a reduced basis of the exponent-difference
    lattice: same invariant factors as the full list of rows."""
    from sympy.matrices.normalforms import smith_normal_form

    from cygen.compiler.analysis import symmetries

    def invariants(m):
        if not m or not any(any(r) for r in m):
            return []
        snf = smith_normal_form(sp.Matrix(m), domain=sp.ZZ)
        return sorted(abs(int(snf[i, i])) for i in range(min(snf.shape)) if snf[i, i] != 0)

    basis = symmetries._lattice_basis(rows, 4)
    assert len(basis) <= 4
    assert invariants(basis) == invariants(rows)
