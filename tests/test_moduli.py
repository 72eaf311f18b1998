"""Complex-structure moduli: exact derivatives from the compiler, polynomial deformations
against h21, the Kodaira-Spencer integrand's invariances, and the Weil-Petersson metric and
Yukawa coupling of the Dwork pencil against their closed forms from the Fermat periods."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sympy as sp
from conftest import ROOT, regular_charts
from typer.testing import CliRunner

from cygen.cli import app
from cygen.compiler.loader import load
from cygen.compiler.pipeline import compile_source
from cygen.core.errors import CygenError
from cygen.evaluate.moduli import finite_differences, moduli
from cygen.evaluate.periods import dwork_exact
from cygen.geometry import moduli as km
from cygen.sampling.sampler import sample

M = ROOT / "manifolds"
DWORK = M / "dwork_quintic.cy"
G = math.gamma
A = (G(0.8) / G(0.2)) ** 5  # |kappa| e^K at psi = 0 is 125 A
B = (G(0.4) * G(0.8) / (G(0.2) * G(0.6))) ** 5  # G(0) = 25 B
runner = CliRunner()


# ----------------------------------------------------------------------------- closed forms


def test_dwork_closed_forms_at_the_fermat_point():
    exact = dwork_exact(0)
    assert exact["wp_metric"] == pytest.approx(25 * B, rel=1e-12)
    assert exact["yukawa_abs_e_k"] == pytest.approx(125 * A, rel=1e-12)
    assert exact["yukawa_normalised"] == pytest.approx(A / B**1.5, rel=1e-12)


@pytest.mark.parametrize("psi", [0.3, 0.5j, -0.2 + 0.4j, 0.85])
def test_the_period_formulas_obey_the_picard_fuchs_equation(psi):
    """kappa (1 - psi^5) is constant for the pencil: the series formula for kappa (built
    from the Hodge pairing of the four Fermat classes) satisfies it at every psi."""
    ref = dwork_exact(0)["kappa_times_one_minus_psi5"]
    assert dwork_exact(psi)["kappa_times_one_minus_psi5"] == pytest.approx(ref, rel=1e-10)


# ----------------------------------------------------------------------------- the compiler


def test_the_compiler_emits_exact_parameter_derivatives():
    """dp/dpsi and d2p/dz dpsi of the Dwork pencil against sympy differentiating the
    equation with psi symbolic, and d2p_dzdt against jax.jacfwd of dp_dt."""
    module = load(DWORK, {"psi": "0.3+0.1i"})
    z, psi = sp.symbols("z0:5"), sp.Symbol("psi")
    p = sum(x**5 for x in z) - 5 * psi * sp.Mul(*z)
    dp = sp.lambdify(z, sp.diff(p, psi))
    d2p = sp.lambdify(z, [sp.diff(p, psi, x) for x in z])
    rng = np.random.default_rng(0)
    for _ in range(5):
        x = rng.normal(size=5) + 1j * rng.normal(size=5)
        assert np.asarray(module.dp_dt(jnp.asarray(x)))[0, 0] == pytest.approx(dp(*x))
        assert np.allclose(module.d2p_dzdt(jnp.asarray(x))[0, 0], d2p(*x))
        jac = jax.jacfwd(module.dp_dt, holomorphic=True)(jnp.asarray(x))
        assert np.allclose(jac, module.d2p_dzdt(jnp.asarray(x)))
    assert module.SPEC["moduli"] == ["psi"] and module.SPEC["moduli_declared"] == 1


@pytest.mark.parametrize(("name", "h21"), [
    ("torus", 1), ("k3_quartic", 19), ("fermat_quintic", 101), ("dwork_quintic", 101),
    ("p5_33", 73), ("bicubic_generic", 83), ("tian_yau", 23), ("schoen", 19),
])
def test_polynomial_deformations_count_h21(name, h21):
    """The polynomial deformations modulo automorphisms and redefinitions of the equations
    are h^{2,1} (h^{1,0} for the torus, the 19 algebraic ones of the K3) for these."""
    source = (M / f"{name}.cy").read_text()
    ir = compile_source(source, f"{name}.cy", deformations="all").ir
    assert ir.moduli.deformations.count == h21
    assert len(ir.moduli.names) == h21  # declared params complete to a basis, not beyond


@pytest.mark.parametrize(("cicy_id", "h21"), [(7884, 83), (7887, 86), (7882, 76)])
def test_polynomial_deformations_of_list_entries_count_h21(cicy_id, h21):
    """Entries of the shipped CICY list, written with generic equations: the polynomial
    deformations are h21 (the list's Hodge number, computed independently)."""
    from cygen.core.cicy import load_list
    from cygen.evaluate.survey import source

    entry = next(e for e in load_list(None) if e["id"] == cicy_id)
    assert entry["h21"] == h21
    ir = compile_source(source(entry, 0), f"cicy_{cicy_id}.cy", deformations="all").ir
    assert len(ir.moduli.names) == h21


def test_info_says_when_deformations_are_not_polynomial(tmp_path):
    from cygen.core.cicy import load_list
    from cygen.evaluate.survey import source

    entry = next(e for e in load_list(None) if e["id"] == 7888)  # P1 x P4 [[0,2],[4,1]]
    path = tmp_path / "cicy_7888.cy"
    path.write_text(source(entry, 0))
    result = runner.invoke(app, ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["cicy_id"] == 7888 and doc["h21"] == 86
    assert 0 < doc["polynomial_deformations"] < 86
    assert doc["non_polynomial_deformations"] == 86 - doc["polynomial_deformations"]
    text = runner.invoke(app, ["info", str(path)]).output
    assert "not polynomial" in text


def test_all_deformations_start_with_the_declared_parameter():
    ir = compile_source(DWORK.read_text(), "dwork.cy", deformations="all").ir
    assert ir.moduli.names[0] == "psi" and ir.moduli.declared == 1
    assert ir.moduli.deformations.declared_rank == 1
    assert all(name.startswith("eq1: ") for name in ir.moduli.names[1:])
    # the quintic's deformations: monomials with every exponent at most 3, none prod z
    assert "eq1: z0*z1*z2*z3*z4" not in ir.moduli.names


# ----------------------------------------------------------------------------- invariances


@pytest.mark.parametrize("source", [
    "dwork_quintic",
    pytest.param("tian_yau_family", marks=pytest.mark.slow),
    pytest.param("p5_33_family", marks=pytest.mark.slow),
])
def test_every_points_integrand_is_the_same_in_every_chart(source):
    """k_a, tr(M_a conj M_b) and (f / conj f) D(M_a, M_b, M_c) are functions on X: any chart
    (other affine coordinates, other dependent coordinates) gives the same numbers."""
    module = load(M / f"{source}.cy", deformations="all")
    data = sample(module, 6, seed=3)
    point = jax.jit(lambda z, c: km.ks_point(module.GEOMETRY, module.dp_dt, module.d2p_dzdt,
                                             z, c))
    for z in data.points[:3]:
        charts = regular_charts(module, np.asarray(z))
        assert len(charts) >= 2
        values = []
        for c in charts:
            ks = point(jnp.asarray(z), c)
            t = km.trace_pairing(ks.m)
            d = ks.phase * km.mixed_determinant(ks.m[:4], ks.m[:4], ks.m[:4])
            values.append((np.asarray(ks.k), np.asarray(t), np.asarray(d)))
        for k, t, d in values[1:]:
            assert np.allclose(k, values[0][0], rtol=1e-7, atol=1e-9)
            assert np.allclose(t, values[0][1], rtol=1e-7, atol=1e-9)
            assert np.allclose(d, values[0][2], rtol=1e-7, atol=1e-9)


def _reparametrised(text: str) -> str:
    return (DWORK.read_text().replace("param psi = -1/5", text)
            .replace("- 5*psi*", "- 5*(PSI)*"))


@pytest.mark.parametrize(("decl", "psi_of_t", "jac"), [
    ("param t = -1", "t/5", 1 / 5),  # psi = t / 5
    pytest.param("param t = 4/5", "t - 1", 1, marks=pytest.mark.slow),  # psi = t - 1
])
def test_a_reparametrisation_changes_g_by_the_jacobian_and_leaves_lambda(tmp_path, decl,
                                                                         psi_of_t, jac):
    """Writing the modulus as t with psi = psi(t) multiplies G by |dpsi/dt|^2 and leaves the
    normalised coupling alone; the same member is sampled on the same slices, so the
    estimates agree to rounding, not just within errors."""
    other = tmp_path / "dwork_t.cy"
    other.write_text(_reparametrised(decl).replace("PSI", psi_of_t))
    a = moduli(DWORK, n=4000, seed=2)
    b = moduli(other, n=4000, seed=2)
    g_a, g_b = a["wp_metric"]["re"][0][0], b["wp_metric"]["re"][0][0]
    assert g_b == pytest.approx(jac**2 * g_a, rel=1e-8)
    assert b["yukawa_normalised"][0][0][0] == pytest.approx(a["yukawa_normalised"][0][0][0],
                                                            rel=1e-8)


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("psi", [0, pytest.param(0.3 + 0.2j, marks=pytest.mark.slow)])
def test_wp_metric_and_yukawa_of_the_dwork_pencil_match_the_periods(psi):
    """G_{psi psibar}, |kappa| e^K and lambda from the Kodaira-Spencer route on 40k points
    agree with the closed forms within 3.5 of their (jackknife) standard errors; the second
    route (finite differences of log int |Omega|^2 on shared slices) agrees too."""
    exact = dwork_exact(psi)
    value = f"{psi.real}+{psi.imag}i" if isinstance(psi, complex) else str(psi)
    r = moduli(DWORK, n=40_000, seed=1, params={"psi": value})
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    lam, lam_err = r["yukawa_normalised"][0][0][0], r["yukawa_normalised_err"][0][0][0]
    assert g_err < 0.05 * g and lam_err < 0.1 * lam  # the estimates mean something
    assert abs(g - exact["wp_metric"]) < 3.5 * g_err
    assert abs(lam - exact["yukawa_normalised"]) < 3.5 * lam_err
    fd = finite_differences(DWORK, {"psi": complex(psi)}, n=40_000, seed=1, h=0.02)
    g_fd, fd_err = fd["wp_metric"]["re"][0][0], fd["wp_metric_err"][0][0]
    # the members share their slices point by point, so the differences are precise
    assert fd_err < 0.05 * exact["wp_metric"]
    assert abs(g_fd - exact["wp_metric"]) < 3.5 * fd_err + 0.01 * exact["wp_metric"]


@pytest.mark.slow
def test_the_metric_grows_towards_the_conifold_and_the_singular_member_is_refused():
    # Towards psi = 1 the exact metric grows (0.192 -> 0.230 at 0.9, 0.312 at 0.98) and the
    # sampled one follows it within its error bars at 0.9; the singular member is refused.
    exact = [dwork_exact(v)["wp_metric"] for v in (0.0, 0.9, 0.98)]
    assert exact[0] < exact[1] < exact[2] and exact[2] > 1.5 * exact[0]
    r = moduli(DWORK, n=40_000, seed=4, params={"psi": "0.9"}, yukawa="none")
    err = r["wp_metric_err"][0][0]
    assert abs(r["wp_metric"]["re"][0][0] - exact[1]) < 4 * err
    with pytest.raises(CygenError, match="singular"):
        moduli(DWORK, n=1000, params={"psi": "1"})


@pytest.mark.slow
def test_wp_metric_of_several_directions_is_hermitian_positive():
    r = moduli(M / "tian_yau_family.cy", n=20_000, seed=0)
    g = np.asarray(r["wp_metric"]["re"]) + 1j * np.asarray(r["wp_metric"]["im"])
    assert g.shape == (3, 3)
    assert np.allclose(g, g.conj().T)
    assert np.min(np.linalg.eigvalsh(g)) > 0


@pytest.mark.slow
def test_tian_yau_entries_forbidden_by_the_phase_symmetries_vanish_and_allowed_ones_do_not():
    """The 23 directions of the Tian-Yau cover carry Z3^3 charges; G_ab and kappa_abc that the
    charges forbid are zero within their errors, the allowed ones are many errors away from
    zero (wrong charges, or an integrand that breaks the symmetry, fail this)."""
    from cygen.evaluate.moduli import phase_charges, selection_rules

    module = load(M / "tian_yau_family.cy", deformations="all")
    rho, s, order = phase_charges(module)
    assert order == 3 and rho.shape == (3, 23) and not s.any()
    g_ok, y_ok = selection_rules(module)
    assert g_ok.sum() == 29 and y_ok.sum() == 491
    rng = np.random.default_rng(0)
    allowed = np.argwhere(y_ok)
    forbidden = np.argwhere(~y_ok)
    triples = np.concatenate([allowed[rng.choice(len(allowed), 12, replace=False)],
                              forbidden[rng.choice(len(forbidden), 12, replace=False)]])
    r = moduli(module, n=4000, seed=1, yukawa=triples)
    g = np.asarray(r["wp_metric"]["re"]) + 1j * np.asarray(r["wp_metric"]["im"])
    assert np.allclose(g, g.conj().T) and np.linalg.eigvalsh(g).min() > 0
    g = np.abs(g)
    pull = g / np.asarray(r["wp_metric_err"])
    assert np.mean(pull[~g_ok] < 3.5) > 0.98 and pull[~g_ok].max() < 5
    assert pull[g_ok].min() > 4  # the 23 diagonal and 6 allowed off-diagonal entries
    y_pull = np.array([abs(complex(c["re"], c["im"])) / c["err"] for c in r["yukawa_components"]])
    assert y_pull[12:].max() < 4.5
    assert np.median(y_pull[:12]) > 4


# ----------------------------------------------------------------------------- the command


def test_moduli_command_json_errors_scan_and_plots(tmp_path):
    result = runner.invoke(app, ["moduli", str(DWORK), "--param", "psi=0", "-n", "3000",
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["params"] == ["psi"] and doc["points"] == 3000
    assert set(doc) >= {"values", "wp_metric", "wp_metric_err", "yukawa",
                        "yukawa_normalised", "yukawa_normalised_err"}
    none = runner.invoke(app, ["moduli", str(M / "fermat_quintic.cy"), "-n", "100"])
    assert none.exit_code == 2 and "no moduli" in none.output
    out = tmp_path / "scan.json"
    scan = runner.invoke(app, ["moduli", str(DWORK), "--scan", "psi=0.5..1", "--steps", "2",
                               "-n", "2000", "--out", str(out)])
    assert scan.exit_code == 0, scan.output
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 and "wp_metric" in rows[0]
    assert "singular" in rows[1]["error"]  # psi = 1 is a row with its reason, not a crash
    again = runner.invoke(app, ["moduli", str(DWORK), "--scan", "psi=0..0.6", "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    # the figures: a scan against the exact curve, and the heat maps of one member
    png = tmp_path / "scan.png"
    result = runner.invoke(app, ["plot", "moduli", str(out), "--exact", "dwork", "-o", str(png)])
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = tmp_path / "one.json"
    one.write_text(json.dumps(doc))
    result = runner.invoke(app, ["plot", "moduli", str(one), "-o", str(tmp_path / "one.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "one.png").stat().st_size > 1000
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    bad = runner.invoke(app, ["plot", "moduli", str(other), "-o", str(tmp_path / "x.png")])
    assert bad.exit_code == 2 and "not a `cygen moduli` result" in bad.output
    assert not (tmp_path / "x.png").exists()
