"""The seed's first example: on the cubic curve the Ricci-flat metric is the flat one,
g_flat = c |Omega|^2 in every chart (det g = g in dimension one), with c fixed by the Kähler
class.  A trained metric's pointwise distance to it is |eta/eta_bar - 1|, eta = g/|Omega|^2.

Reports that distance (mean = sigma, median, 99th percentile, max) on fresh points for FS and
for the learned ``phi`` metric, and draws the six patches with their sampled points coloured by
g/g_flat - 1 (FS above, learned below), as in the talk.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cygen.compiler.loader import load
from cygen.geometry import runtime as rt
from cygen.learn.runs import load_run
from cygen.learn.trainer import train
from cygen.sampling.sampler import sample
from cygen.studies import common

PLOT_POINTS = 2500  # per patch in the figure

SETTINGS = {
    "small": {"points": 4000, "epochs": 3, "eval_points": 4000, "widths": [32, 32]},
    "full": {"points": 40_000, "epochs": 40, "eval_points": 40_000, "widths": [64, 64, 64]},
}


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("torus"))
    geo = module.GEOMETRY
    config = {"model": {"widths": s["widths"]}, "batch_size": 64,
              "optimizer": {"lr": 2e-3, "schedule": "cosine", "final_lr": 1e-5},
              "eval": {"kahler_points": 0, "ricci_points": 0}}
    metrics = train(module, out / "run", points=s["points"], epochs=s["epochs"], seed=0,
                    model="phi", config=config, progress=progress)
    learned = load_run(out / "run")
    data = sample(module, s["eval_points"], seed=1, purpose="study")
    fs = common.eta(lambda z, c: rt.fs_metric(geo, z, c), geo, data.points, data.chart,
                    data.omega_sq)
    nn = common.eta(learned.metric_in, geo, data.points, data.chart, data.omega_sq)
    result = {
        "manifold": "torus", "model": "phi", "settings": s, "train_sigma": metrics["sigma"],
        "flat_distance_fs": common.deviation(data.weights, fs),
        "flat_distance_learned": common.deviation(data.weights, nn),
        "curves": common.curves(out / "run"),
    }
    result["improvement"] = (result["flat_distance_fs"]["sigma"]
                             / result["flat_distance_learned"]["sigma"])
    result["figures"] = [_patches(out / "torus_patches.png", module, data, fs, nn)]
    return common.write_result(out, "torus", result, started)


def _patches(path: Path, module, data, fs: np.ndarray, nn: np.ndarray) -> str:
    geo = module.GEOMETRY
    charts = module.SPEC["charts"]
    fig, axes = common.figure(len(charts), 2, size=(2.0, 1.9))
    w = data.weights
    rel = {name: e / (np.sum(w * e) / np.sum(w)) - 1 for name, e in (("FS", fs), ("learned", nn))}
    vmax = float(np.quantile(np.abs(rel["FS"]), 0.99))
    image = None
    for row, (name, values) in enumerate(rel.items()):
        for c, ax in enumerate(axes[row]):
            sel = np.flatnonzero(data.chart == c)[:PLOT_POINTS]  # keep the PNG small
            zc = data.points[sel] / data.points[sel][:, geo.affine[c]]
            u = zc[:, geo.free[c][0]]
            image = ax.scatter(u.real, u.imag, c=values[sel], s=1, cmap="coolwarm",
                               vmin=-vmax, vmax=vmax, rasterized=True)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{name}, patch {c}", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label="g / g_flat - 1")
    return common.save_figure(fig, path)
