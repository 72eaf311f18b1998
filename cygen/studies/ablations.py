"""Single-loss ablations on the Fermat quintic with the seed's ``ldl`` ansatz: train on sigma
only, kappa only and mu only (every other weight zero, the Kähler-class term too) and measure
all three after every epoch, as in the talk (which finds sigma in tension with kappa and mu,
and kappa and mu correlated).

The trainer validates only the terms it trains, so each epoch's checkpoint is measured by
:func:`cygen.train.evaluate` (from the ``progress`` callback, which runs after the checkpoint
is written) on one common set of fresh points (seed 1): sigma, kappa (on the first
``kahler_points``), mu, and the Kähler-class term, from epoch 0 (the initialisation) on.
kappa and mu are cygen's default "relative" residuals, which do not change when g is
rescaled (so they cannot be lowered by shrinking the metric).  ``full`` adds a reference run
on all terms together.

The networks start random (``init_scale`` 1: the last layer at full LeCun scale), as the
seed's did, so that all three terms start away from zero: with cygen's default near-identity
start (``init_scale`` 0.01) the ldl metric is an almost constant metric in every chart, kappa
is already ~0 and sigma does not move (the "constant metric" plateau).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cygen.compiler.loader import load
from cygen.evaluate.runs import evaluate_run
from cygen.learn.trainer import train
from cygen.studies import common

SETTINGS = {
    "small": {"points": 1000, "epochs": 1, "widths": [8], "eval_points": 200,
              "kahler_points": 50, "runs": ["sigma", "kahler", "transition"]},
    "full": {"points": 10_000, "epochs": 10, "widths": [64, 64, 64], "eval_points": 2000,
             "kahler_points": 500, "runs": ["sigma", "kahler", "transition", "all"]},
}
TERMS = ["sigma", "kahler", "transition"]
LABELS = {"sigma": "σ", "kahler": "κ", "transition": "μ", "volume": "Kähler class",
          "all": "σ + 0.1 κ + μ + class"}
WEIGHTS = {"sigma": {"sigma": 1.0}, "kahler": {"kahler": 1.0},
           "transition": {"transition": 1.0},
           "all": {"sigma": 1.0, "kahler": 0.1, "transition": 1.0, "volume": 1.0}}
CONFIG = {"model": {"activation": "tanh", "init_scale": 1.0},
          "optimizer": {"lr": 1e-3, "schedule": "constant"},
          "dtype": "float64", "batch_size": 64}


def tracked(run_dir: Path, eval_path: Path, rows: list[dict], progress=None):
    """A ``progress`` callback that measures every term of each epoch's checkpoint."""

    def callback(event: dict) -> None:
        if event.get("event") in ("start", "epoch"):
            m = evaluate_run(run_dir, data=eval_path)
            rows.append({"epoch": int(event["epoch"]), "wall_s": event.get("wall_s"),
                         **{k: m.get(k) for k in (*TERMS, "volume")}})
        if progress is not None:
            progress(event)

    return callback


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("fermat_quintic"))
    data_path, eval_path = common.samples(module, out, s["points"], s["eval_points"])
    result: dict = {"manifold": "fermat_quintic", "model": "ldl", "settings": s, "runs": {}}
    for name in s["runs"]:
        config = {**CONFIG, "model": {**CONFIG["model"], "widths": s["widths"]},
                  "loss": {t: 0.0 for t in (*TERMS, "volume")} | WEIGHTS[name],
                  "eval": {"kahler_points": s["kahler_points"], "ricci_points": 0}}
        rows: list[dict] = []
        metrics = train(module, out / name, data=data_path, epochs=s["epochs"], seed=0,
                        model="ldl", config=config,
                        progress=tracked(out / name, eval_path, rows, progress))
        curves = {k: [r[k] for r in rows] for k in ("epoch", *TERMS, "volume")}
        result["runs"][name] = {
            "loss": config["loss"], "status": metrics["status"], "curves": curves,
            "change": {t: _ratio(curves[t]) for t in TERMS}}
    result["correlations"] = _correlations(result["runs"])
    result["correlations_from_epoch_1"] = _correlations(result["runs"], start=1)
    result["figures"] = [_figure(out / "ablations.png", result["runs"])]
    return common.write_result(out, "ablations", result, started)


def _ratio(values: list) -> float | None:
    """Last over first value of a curve (below 1: the term fell)."""
    return values[-1] / values[0] if len(values) >= 2 and values[0] else None


def _correlations(runs: dict, start: int = 0) -> dict[str, float | None]:
    """Pearson correlation of the epoch-to-epoch changes of log(term) for each pair of terms,
    pooled over all runs, from epoch ``start`` on (1: without the first epoch's large drop)."""
    steps = {t: np.concatenate([np.diff(np.log(r["curves"][t][start:])) for r in runs.values()])
             for t in TERMS}
    out = {}
    for a, b in (("sigma", "kahler"), ("sigma", "transition"), ("kahler", "transition")):
        ok = np.isfinite(steps[a]) & np.isfinite(steps[b])
        out[f"{a}/{b}"] = (float(np.corrcoef(steps[a][ok], steps[b][ok])[0, 1])
                           if ok.sum() >= 3 else None)
    return out


def _figure(path: Path, runs: dict) -> str:
    fig, axes = common.figure(len(runs), size=(3.9, 3.4))
    for ax, (name, r) in zip(axes[0], runs.items(), strict=True):
        common.plot_curves(ax, r["curves"], TERMS, f"trained on {LABELS[name]}", LABELS)
        ax.set_ylabel("measured on fresh points")
    return common.save_figure(fig, path)
