"""How good must a metric be for reliable couplings? (docs/moduli.md#harmonic-forms)

The torus first: its flat metric is known, so G_harm and the metric-free G must agree.  On
the Dwork quintic (psi = -1/5) and on P5[3,3] (psi = 1/2): the Weil-Petersson metric from
harmonic Kodaira-Spencer representatives, G_harm (:mod:`cygen.evaluate.harmonic`), for the
Fubini-Study metric and Donaldson's balanced metrics k = 1..K, against the metric-free G on
the same evaluation points; the relative error |G_harm / G - 1| against the metric's sigma,
with jackknife error bars of the ratio itself (both from the same points, so the sampling
noise common to both cancels).  At the best metric, the section basis's degree is varied
(``degrees``): how much of the codifferential the basis removes, and what that changes.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import jax.numpy as jnp

from cygen.compiler.loader import load
from cygen.evaluate import harmonic as eh
from cygen.geometry import runtime as rt
from cygen.learn import donaldson
from cygen.studies import common

SETTINGS = {
    "small": {"manifolds": {"dwork_quintic": 2, "p5_33_family": 1}, "fit_points": 600,
              "eval_points": 1500, "degree": 1, "degrees": [0, 1]},
    "full": {"manifolds": {"dwork_quintic": 5, "p5_33_family": 3}, "fit_points": 3000,
             "eval_points": 8000, "degree": 1, "degrees": [0, 1, 2]},
}


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    result: dict = {"settings": s, "torus": _torus(s), "manifolds": {}}
    for name, k_max in s["manifolds"].items():
        result["manifolds"][name] = _ladder(name, k_max, s, progress)
    result["figures"] = [common.save_figure(_figure(result["manifolds"], s["degree"]),
                                            out / "couplings.png")]
    return common.write_result(out, "couplings", result, started)


def _torus(s: dict) -> dict:
    """The check with a known answer: the torus's flat metric g = |Omega_u|^2 is Ricci-flat,
    so G_harm must equal the metric-free G; FS (not flat) beside it."""
    module = load(common.manifold("torus"), deformations="all")
    geo = module.GEOMETRY
    rows = {}
    def flat(z, c):
        return rt.omega_sq(geo, z, c) * jnp.eye(1, dtype=complex)

    prepared = eh.prepare(module, s["fit_points"], s["eval_points"])
    for label, metric in (("flat", flat), ("FS", partial(rt.fs_metric, geo))):
        t0 = time.monotonic()
        r = eh.harmonic(module, metric, degree=1, prepared=prepared)
        rows[label] = _row(label, r, time.monotonic() - t0)
    return rows


def _ladder(name: str, k_max: int, s: dict, progress) -> list[dict]:
    module = load(common.manifold(name))
    metrics = [("FS", partial(rt.fs_metric, module.GEOMETRY))]
    rows = []
    prepared = eh.prepare(module, s["fit_points"], s["eval_points"])
    for k in range(0, k_max + 1):
        if k:
            balanced = donaldson.balanced(module, k, seed=0)
            metrics = [(f"balanced k={k}", partial(donaldson.local_metric, balanced))]
        label, metric = metrics[-1]
        last = k == k_max
        for degree in s["degrees"] if last else [s["degree"]]:
            t0 = time.monotonic()
            r = eh.harmonic(module, metric, degree=degree, prepared=prepared)
            rows.append(_row(label, r, time.monotonic() - t0) | {"basis_ladder": last})
            if progress is not None:
                progress({"message": f"{name} {label} degree {degree}: sigma "
                                     f"{r['sigma']:.3f}, G_harm/G - 1 = "
                                     f"{rows[-1]['relative_difference']:+.4f}"})
    return rows


def _row(label: str, r: dict, seconds: float) -> dict:
    g_h, g_h_err = r["wp_metric_harmonic"]["re"][0][0], r["wp_metric_harmonic_err"][0][0]
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    return {"metric": label, "sigma": r["sigma"], "degree": r["degree"],
            "g_harmonic": g_h, "g_harmonic_err": g_h_err,
            "g_ks_norm": r["wp_metric_ks_norm"]["re"][0][0], "g": g, "g_err": g_err,
            "g_lift": r["wp_metric_harmonic_lift"]["re"][0][0],
            "g_lift_err": r["wp_metric_harmonic_lift_err"][0][0],
            "relative_difference": r["relative_difference"][0],
            "relative_difference_err": r["relative_difference_err"][0],
            "residual": r["residual"][0], "residual_ks": r["residual_ks"][0],
            "objective_removed": r["groups"][0]["objective_removed"][0],
            "seconds": round(seconds, 1)}


def _figure(manifolds: dict, degree: int):
    fig, axes = common.figure()
    ax = axes[0, 0]
    for name, rows in manifolds.items():
        rows = [r for r in rows if r["degree"] == degree]  # one per metric
        x = [r["sigma"] for r in rows]
        y = [abs(r["relative_difference"]) for r in rows]
        e = [r["relative_difference_err"] for r in rows]
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sigma of the metric")
    ax.set_ylabel("|G_harm / G - 1|")
    ax.set_title("harmonic Weil-Petersson metric vs the metric-free one")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return fig
