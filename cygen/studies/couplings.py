"""How good must a metric be for reliable couplings? (docs/moduli.md#harmonic-forms)

The torus first: its flat metric is known, so G_harm and the metric-free G must agree.  On
the Dwork quintic (psi = -1/5), P5[3,3] (psi = 1/2) and the Tian-Yau cover (its three
declared deformations a, b, c at 0): the Weil-Petersson metric from harmonic Kodaira-Spencer
representatives, G_harm (:mod:`cygen.evaluate.harmonic`), for the Fubini-Study metric,
Donaldson's balanced metrics k = 1..K and a phi network trained for increasing numbers of
epochs (one run, resumed, its cosine schedule fixed over the last count), against the
metric-free G on the same evaluation points; the relative error |G_harm / G - 1| against
the metric's sigma, with jackknife error bars of the ratio itself (both from the same points,
so the sampling noise common to both cancels).  At the best metric the sections are varied:
the basis's degree (``degrees``) and a section network on top of the degree-1 basis
(:mod:`cygen.learn.sections`).
"""

from __future__ import annotations

import json
import shutil
import time
from functools import partial
from pathlib import Path

import jax.numpy as jnp

from cygen.compiler.loader import load
from cygen.core.io import atomic_write, jsonable
from cygen.evaluate import harmonic as eh
from cygen.geometry import runtime as rt
from cygen.learn import donaldson
from cygen.learn.runs import load_run
from cygen.learn.trainer import train
from cygen.studies import common

SETTINGS = {
    "small": {"manifolds": {"dwork_quintic": {"k": 2, "epochs": [1, 2], "network": True},
                            "p5_33_family": {"k": 1, "epochs": [], "network": False}},
              "fit_points": 600, "eval_points": 1500, "train_points": 1500, "degree": 1,
              "degrees": [0, 1], "network": {"hidden": [16], "epochs": 2},
              "network_fit_points": 800},
    "full": {"manifolds": {"dwork_quintic": {"k": 5, "epochs": [3, 12, 48], "network": True},
                           "p5_33_family": {"k": 3, "epochs": [3, 12, 48, 144],
                                            "network": True},
                           "tian_yau_family": {"k": 2, "epochs": [48], "network": False,
                                               "degrees": [0, 1]}},
             "fit_points": 3000, "eval_points": 8000, "train_points": 100_000, "degree": 1,
             "degrees": [0, 1, 2], "network": {"hidden": [64, 64], "epochs": 40, "patience": 8},
             "network_fit_points": 15_000},
}
TRAIN = {"batch_size": 64, "model": {"widths": [64, 64, 64], "activation": "gelu"},
         "optimizer": {"lr": 2e-3, "schedule": "cosine", "final_lr": 1e-5},
         "eval": {"kahler_points": 0}}  # the headline recipe of docs/training.md


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    result: dict = {"settings": s, "train_config": TRAIN, "torus": _torus(s), "manifolds": {}}
    for name, spec in s["manifolds"].items():
        done = out / f"{name}_rows.json"  # a finished manifold is kept: the study resumes
        if not done.exists():
            rows = _ladder(name, spec, s, out, progress)
            atomic_write(done, json.dumps(jsonable(rows)))
        result["manifolds"][name] = json.loads(done.read_text())
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


def _metrics(module, name: str, spec: dict, s: dict, out: Path, progress):
    """(label, metric, facts) from worst to best: FS, balanced k = 1..K, then the phi run
    after each epoch count of ``spec["epochs"]`` (trained on its own sample, seed 5)."""
    yield "FS", partial(rt.fs_metric, module.GEOMETRY), {"kind": "FS"}
    for k in range(1, spec["k"] + 1):
        t0 = time.monotonic()
        balanced = donaldson.balanced(module, k, seed=0)
        yield (f"balanced k={k}", partial(donaldson.local_metric, balanced),
               {"kind": "balanced", "k": k, "build_s": round(time.monotonic() - t0, 1)})
    if not spec["epochs"]:
        return
    data = common.points_file(module, out / f"{name}_train.npz", s["train_points"], 5)
    run_dir = out / f"{name}_phi"
    shutil.rmtree(run_dir, ignore_errors=True)  # an interrupted study trains again
    config = TRAIN | {"optimizer": TRAIN["optimizer"] | {"horizon_epochs": spec["epochs"][-1]}}
    for i, epochs in enumerate(spec["epochs"]):
        if i == 0:
            metrics = train(module, run_dir, data=data, epochs=epochs, model="phi",
                            config=config, progress=progress)
        else:
            metrics = train(None, run_dir, epochs=epochs, resume=True, progress=progress)
        wall = common.curves(run_dir)["wall_s"][-1]
        yield (f"phi {epochs} epochs", load_run(run_dir).metric_in,
               {"kind": "network", "epochs": epochs, "train_wall_s": wall,
                "val_sigma": metrics["sigma"], "status": metrics["status"]})


def _ladder(name: str, spec: dict, s: dict, out: Path, progress) -> list[dict]:
    module = load(common.manifold(name))
    prepared = eh.prepare(module, s["fit_points"], s["eval_points"])
    metrics = list(_metrics(module, name, spec, s, out, progress))
    rows = []
    for i, (label, metric, facts) in enumerate(metrics):
        last = i == len(metrics) - 1
        degrees = spec.get("degrees", s["degrees"])  # Tian-Yau: degree 2 takes too long
        variants = [(d, None) for d in (degrees if last else [s["degree"]])]
        if last and spec["network"]:  # more fit points: the network needs them (docs)
            variants.append((s["degree"], s["network"]))
            many = eh.with_fit_points(prepared, module, s["network_fit_points"])
        for degree, network in variants:
            t0 = time.monotonic()
            r = eh.harmonic(module, metric, degree=degree, network=network,
                            prepared=prepared if network is None else many)
            rows.append(_row(label, r, time.monotonic() - t0) | facts
                        | {"basis_ladder": last})
            if progress is not None:
                progress({"message": f"{name} {label} degree {degree} {r['sections']}: "
                                     f"sigma {r['sigma']:.4f}, G_harm/G - 1 = "
                                     f"{rows[-1]['relative_difference']:+.5f}"})
    return rows


def _row(label: str, r: dict, seconds: float) -> dict:
    """The first direction's numbers (the tables), with every direction's under ``all``."""
    g_h, g_h_err = r["wp_metric_harmonic"]["re"][0][0], r["wp_metric_harmonic_err"][0][0]
    g, g_err = r["wp_metric"]["re"][0][0], r["wp_metric_err"][0][0]
    group = r["groups"][0]
    row = {"metric": label, "sigma": r["sigma"], "degree": r["degree"],
           "sections": r["sections"], "g_harmonic": g_h, "g_harmonic_err": g_h_err,
           "g_ks_norm": r["wp_metric_ks_norm"]["re"][0][0], "g": g, "g_err": g_err,
           "g_lift": r["wp_metric_harmonic_lift"]["re"][0][0],
           "g_lift_err": r["wp_metric_harmonic_lift_err"][0][0],
           "relative_difference": r["relative_difference"][0],
           "relative_difference_err": r["relative_difference_err"][0],
           "residual": r["residual"][0], "residual_ks": r["residual_ks"][0],
           "objective_removed": group["objective_removed"][0], "seconds": round(seconds, 1),
           "difference_terms": {k: v[0] for k, v in r["difference_terms"].items()},
           "difference_terms_err": {k: v[0] for k, v in r["difference_terms_err"].items()},
           "all": {key: r[key] for key in ("relative_difference", "relative_difference_err",
                                           "residual", "residual_ks")}}
    if "network" in group:
        net = group["network"]
        row["network"] = {key: net[key] for key in ("start", "best", "epochs", "stopped")}
    return row


def _figure(manifolds: dict, degree: int):
    """Left: |the metric term| of G_harm - G against sigma (what the metric costs); right:
    |G_harm / G - 1| itself (metric and projection terms together), degree-``degree`` rows."""
    fig, axes = common.figure(ncols=2)
    for ax, key in zip(axes[0], ("metric", "total"), strict=True):
        for (name, rows), color in zip(manifolds.items(), ("C0", "C1", "C2"), strict=False):
            for kind, marker in (("balanced", "o"), ("network", "s")):
                sel = [r for r in rows if r["degree"] == degree and r["sections"] == "basis"
                       and r.get("kind") in (kind, "FS" if kind == "balanced" else None)]
                if key == "metric":
                    y = [abs(r["difference_terms"]["metric_covariance"]) / r["g_lift"]
                         for r in sel]
                    e = [r["difference_terms_err"]["metric_covariance"] / r["g_lift"]
                         for r in sel]
                else:
                    y = [abs(r["relative_difference"]) for r in sel]
                    e = [r["relative_difference_err"] for r in sel]
                ax.errorbar([r["sigma"] for r in sel], y, yerr=e, marker=marker, capsize=3,
                            color=color, ls="-" if kind == "balanced" else "--",
                            label=f"{name} ({'FS, balanced' if kind == 'balanced' else 'phi'})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(_no_labels())
        ax.set_xlabel("sigma of the metric")
        ax.grid(alpha=0.3, which="both")
    axes[0, 0].set_ylabel("|metric term| / G")
    axes[0, 0].set_title("what the metric costs: Cov(e, |eta|^2) / G")
    axes[0, 1].set_ylabel("|G_harm / G - 1|")
    axes[0, 1].set_title("G_harm vs the metric-free G (sections included)")
    axes[0, 0].legend(fontsize=7)
    return fig


def _no_labels():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()
