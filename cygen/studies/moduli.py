"""Complex-structure moduli checked against what is known exactly (docs/moduli.md).

* **Dwork pencil** (``dwork_quintic.cy``): G and lambda = |kappa| e^K G^(-3/2) along psi in
  [0, 0.98] against the closed forms from the Fermat periods (:mod:`cygen.evaluate.periods`),
  one seed per member; and at psi = 0 and psi = 0.5 over independent seeds, the spread of the
  estimates against the mean jackknife error (how the error bars are checked);
* **two routes**: the Kodaira-Spencer G against finite differences of log int |Omega|^2 on
  common slices, at a complex psi;
* **Tian-Yau** (``tian_yau_family.cy --deformations all``): the 23 x 23 Weil-Petersson matrix
  and the 23^3 Yukawa couplings, with the entries the phase symmetries force to vanish
  (:func:`cygen.evaluate.moduli.selection_rules`) compared with the allowed ones, in units of
  their errors; heat maps;
* **P5[3,3] and the bicubic**: G and lambda of their one-parameter families at psi = 1/2 (no
  closed form: the numbers, with errors, for comparison with other codes).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cygen.compiler.loader import load
from cygen.evaluate import moduli as em
from cygen.evaluate import plots
from cygen.evaluate.periods import dwork_exact
from cygen.studies import common

SETTINGS = {
    "small": {"scan": [0.0, 0.5, 0.9], "scan_points": 4000, "seeds": 3, "seed_points": 4000,
              "fd_points": 4000, "ty_points": 3000, "family_points": 3000},
    "full": {"scan": [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98], "scan_points": 100_000,
             "seeds": 8, "seed_points": 40_000, "fd_points": 100_000, "ty_points": 50_000,
             "family_points": 50_000},
}
DWORK = "dwork_quintic"
FD_STEP = 0.02  # finite-difference step in psi


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    path = common.manifold(DWORK)
    result: dict = {"settings": s}
    rows = []
    for psi in s["scan"]:
        r = em.moduli(path, n=s["scan_points"], seed=0, params={"psi": repr(psi)})
        rows.append(_dwork_row(psi, r))
        _say(progress, f"dwork psi={psi}: G {rows[-1]['wp_metric']:.4f} "
                       f"(exact {rows[-1]['wp_metric_exact']:.4f})")
    result["dwork_scan"] = rows
    result["dwork_seeds"] = [_seed_spread(path, psi, s["seeds"], s["seed_points"])
                             for psi in (0.0, 0.5)]
    result["two_routes"] = _two_routes(path, s["fd_points"])
    result["tian_yau"], ty_doc, masks = _tian_yau(s["ty_points"])
    result["families"] = {name: _family(name, s["family_points"])
                          for name in ("p5_33_family", "bicubic_family")}
    scan = {"name": str(path), "param": "psi", "points": s["scan_points"],
            "rows": [{"value": [r["psi"], 0.0], "wp_metric": r["wp_metric"],
                      "wp_metric_err": r["wp_metric_err"],
                      "yukawa_normalised": r["lambda"], "yukawa_normalised_err": r["lambda_err"]}
                     for r in rows]}
    result["figures"] = [
        common.save_figure(plots.moduli_scan_figure(scan, [dwork_exact(p) for p in s["scan"]]),
                           out / "moduli_dwork.png"),
        common.save_figure(plots.moduli_matrix_figure(ty_doc), out / "moduli_tian_yau.png"),
        common.save_figure(_selection_figure(ty_doc, *masks),
                           out / "moduli_tian_yau_selection.png")]
    return common.write_result(out, "moduli", result, started)


def _say(progress, message: str) -> None:
    if progress is not None:
        progress({"message": message})


def _dwork_row(psi: float, r: dict) -> dict:
    exact = dwork_exact(psi)
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    lam, lam_err = r["yukawa_normalised"][0][0][0], r["yukawa_normalised_err"][0][0][0]
    return {"psi": psi, "points": r["points"], "wp_metric": g, "wp_metric_err": g_err,
            "wp_metric_exact": exact["wp_metric"],
            "wp_metric_pull": (g - exact["wp_metric"]) / g_err,
            "lambda": lam, "lambda_err": lam_err, "lambda_exact": exact["yukawa_normalised"],
            "lambda_pull": (lam - exact["yukawa_normalised"]) / lam_err,
            "points_per_second": r["points_per_second"]}


def _seed_spread(path: Path, psi: float, seeds: int, n: int) -> dict:
    rows = [_dwork_row(psi, em.moduli(path, n=n, seed=seed, params={"psi": repr(psi)}))
            for seed in range(seeds)]
    out: dict = {"psi": psi, "points": n, "seeds": seeds}
    for key in ("wp_metric", "lambda"):
        values = np.array([r[key] for r in rows])
        errors = np.array([r[key + "_err"] for r in rows])
        out[key] = {"values": values.tolist(), "errors": errors.tolist(),
                    "exact": rows[0][key + "_exact"],
                    "spread": float(values.std(ddof=1)), "mean_error": float(errors.mean()),
                    "spread_over_error": float(values.std(ddof=1) / errors.mean()),
                    "pulls": [r[key + "_pull"] for r in rows]}
    return out


def _two_routes(path: Path, n: int) -> dict:
    psi = "0.3+0.2i"
    ks = em.moduli(path, n=n, seed=3, params={"psi": psi}, yukawa="none")
    fd = em.finite_differences(path, {"psi": 0.3 + 0.2j}, n=n, seed=3, h=FD_STEP)
    exact = dwork_exact(0.3 + 0.2j)["wp_metric"]
    return {"psi": psi, "points": n, "step": FD_STEP,
            "kodaira_spencer": ks["wp_metric"]["re"][0][0],
            "kodaira_spencer_err": ks["wp_metric_err"][0][0],
            "finite_differences": fd["wp_metric"]["re"][0][0],
            "finite_differences_err": fd["wp_metric_err"][0][0], "exact": exact}


def _masked(values: np.ndarray, errors: np.ndarray, mask: np.ndarray) -> dict:
    pulls = np.abs(values[mask]) / errors[mask]
    return {"entries": int(mask.sum()),
            "max_abs": float(np.abs(values[mask]).max()) if mask.any() else None,
            "median_abs_over_err": float(np.median(pulls)) if mask.any() else None,
            "max_abs_over_err": float(pulls.max()) if mask.any() else None,
            "share_within_3_err": float(np.mean(pulls < 3)) if mask.any() else None}


def _tian_yau(n: int) -> tuple[dict, dict, tuple[np.ndarray, np.ndarray]]:
    path = common.manifold("tian_yau_family")
    module = load(path, deformations="all")
    doc = em.moduli(module, n=n, seed=0)
    g_ok, y_ok = em.selection_rules(module)
    g = np.asarray(doc["wp_metric"]["re"]) + 1j * np.asarray(doc["wp_metric"]["im"])
    y = np.asarray(doc["yukawa"]["re"]) + 1j * np.asarray(doc["yukawa"]["im"])
    g_err, y_err = np.asarray(doc["wp_metric_err"]), np.asarray(doc["yukawa_err"])
    off = ~np.eye(len(g), dtype=bool)
    rho, s, order = em.phase_charges(module)
    summary = {
        "points": doc["points"], "directions": doc["params"],
        "polynomial_deformations": doc["polynomial_deformations"],
        "phase_charges": rho.tolist(), "omega_charge": s.tolist(), "phase_order": order,
        "wp_eigenvalues": doc["wp_eigenvalues"],
        "wp_diagonal": np.real(np.diag(g)).tolist(),
        "wp_forbidden": _masked(g, g_err, ~g_ok), "wp_allowed_off_diagonal":
        _masked(g, g_err, g_ok & off),
        "yukawa_forbidden": _masked(y, y_err, ~y_ok), "yukawa_allowed": _masked(y, y_err, y_ok),
        "seconds_moduli": doc["seconds_moduli"], "points_per_second": doc["points_per_second"]}
    return summary, doc, (g_ok, y_ok)


def _selection_figure(doc: dict, g_ok: np.ndarray, y_ok: np.ndarray):
    """|entry| / error of G and of kappa e^K, for the entries the phase symmetries forbid
    (``~g_ok``, ``~y_ok``) and for those they allow (off-diagonal for G)."""
    g = np.abs(np.asarray(doc["wp_metric"]["re"]) + 1j * np.asarray(doc["wp_metric"]["im"]))
    y = np.abs(np.asarray(doc["yukawa"]["re"]) + 1j * np.asarray(doc["yukawa"]["im"]))
    g, y = g / np.asarray(doc["wp_metric_err"]), y / np.asarray(doc["yukawa_err"])
    off = ~np.eye(len(g), dtype=bool)
    fig, axes = common.figure(2, 1, size=(4.8, 3.4))
    bins = np.logspace(-2, 3, 51)
    for ax, (title, values, allowed) in zip(axes[0], [
            ("Weil–Petersson G (off-diagonal)", g, g_ok & off),
            ("Yukawa κ e^K", y, y_ok)], strict=True):
        forbidden = ~allowed & (off if values is g else True)
        ax.hist(values[forbidden], bins=bins, alpha=0.7,
                label=f"forbidden ({int(forbidden.sum())})")
        ax.hist(values[allowed], bins=bins, alpha=0.7, label=f"allowed ({int(allowed.sum())})")
        ax.axvline(3, color="k", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("|entry| / standard error")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(f"Tian–Yau, 23 directions, {doc['points']} points: Z3³ selection rules")
    return fig


def _family(name: str, n: int) -> dict:
    r = em.moduli(common.manifold(name), n=n, seed=0)
    return {"points": r["points"], "values": r["values"],
            "wp_metric": r["wp_metric"]["re"][0][0], "wp_metric_err": r["wp_metric_err"][0][0],
            "lambda": r["yukawa_normalised"][0][0][0],
            "lambda_err": r["yukawa_normalised_err"][0][0][0],
            "points_per_second": r["points_per_second"]}
