"""phi started from Donaldson's balanced metric (k = 3) against phi started from Fubini–Study on
the Fermat quintic, at the same budget (the same epochs, network, optimiser and points), over
several seeds; plus the ablation: the balanced base held fixed (``base_rate = 0``).

Every run trains on one sample (seed 0) and is evaluated on common fresh points (seed 1), so
the table compares like with like; the balanced metric's own time is in ``wall_s``.
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
    "small": {"points": 3000, "epochs": 2, "widths": [16, 16], "seeds": [0],
              "k": 2, "eval_points": 2000},
    "full": {"points": 50_000, "epochs": 15, "widths": [64, 64, 64], "seeds": [0, 1, 2],
             "k": 3, "eval_points": 20_000},
}
CONFIG = {"batch_size": 64, "model": {"activation": "gelu"},
          "optimizer": {"lr": 2e-3, "schedule": "cosine"},
          "eval": {"kahler_points": 0, "ricci_points": 0}}


def starts(s: dict) -> dict[str, tuple[str | None, dict]]:
    """label -> (init, model options) of each compared start."""
    k = f"donaldson:{s['k']}"
    return {"fs": (None, {}), "donaldson": (k, {}),
            "donaldson_fixed": (k, {"base_rate": 0.0})}


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("fermat_quintic"))
    data_path, eval_path = common.samples(module, out, s["points"], s["eval_points"])
    result: dict = {"manifold": "fermat_quintic", "settings": s, "config": CONFIG, "runs": {}}
    for label, (init, options) in starts(s).items():
        seeds = s["seeds"] if label != "donaldson_fixed" else s["seeds"][:1]
        for seed in seeds:
            config = {**CONFIG, "model": {**CONFIG["model"], "widths": s["widths"], **options}}
            run_dir = out / f"{label}_seed{seed}"
            metrics = train(module, run_dir, data=data_path, epochs=s["epochs"], seed=seed,
                            model="phi", config=config, init=init, progress=progress)
            fresh = evaluate_run(run_dir, data=eval_path)
            result["runs"][f"{label}/seed{seed}"] = {
                "start": label, "seed": seed, "init": init, "status": metrics["status"],
                "sigma_val": metrics["sigma"],
                "sigma_fresh": fresh["sigma"], "sigma_fs": fresh["sigma_fs"],
                "wall_s": metrics["wall_s"], "train_s": metrics["train_s"],
                "curves": common.curves(run_dir)}
    result["summary"] = {
        label: {"seeds": len(rs), "sigma_fresh_mean": float(np.mean(rs)),
                "sigma_fresh": [float(x) for x in rs]}
        for label in starts(s)
        if (rs := [r["sigma_fresh"] for r in result["runs"].values() if r["start"] == label])}
    result["figures"] = [_figure(out / "donaldson_start.png", result["runs"])]
    return common.write_result(out, "donaldson_start", result, started)


def _figure(path: Path, runs: dict) -> str:
    fig, axes = common.figure(1)
    ax = axes[0, 0]
    colours = {"fs": "tab:blue", "donaldson": "tab:red", "donaldson_fixed": "tab:gray"}
    for key, r in runs.items():
        ax.plot(r["curves"]["epoch"], r["curves"]["sigma"], marker="o", ms=2, lw=1,
                c=colours[r["start"]], label=key)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation σ")
    ax.set_title("Fermat quintic, phi: start from FS vs Donaldson", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return common.save_figure(fig, path)
