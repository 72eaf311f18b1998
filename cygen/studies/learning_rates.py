"""Learning rates and point counts on the Fermat quintic and the Dwork quintic (psi = -1/5),
as in the talk (which used the ldl ansatz with 10k-28k points and Adam; here the cheap ``phi``
model, so the sweep fits in minutes on two cores).

Two sweeps per manifold, crossing at (``base_lr``, ``base_points``): the learning rate at a
fixed point count, and the point count at a fixed learning rate (constant schedule, Adam).
Every run draws its training points from one sample per manifold (the first N points), and
its final sigma is also measured on one common set of fresh points (seed 1), so the table
compares like with like.  Plots sigma (validation) per epoch.
"""

from __future__ import annotations

import time
from pathlib import Path

from cygen.compiler.loader import load
from cygen.evaluate.runs import evaluate_run
from cygen.learn.trainer import train
from cygen.studies import common

SETTINGS = {
    "small": {"manifolds": ["fermat_quintic", "dwork_quintic"], "lrs": [1e-3, 3e-3],
              "points": [1000], "base_lr": 1e-3, "base_points": 1000, "epochs": 2,
              "widths": [16, 16], "eval_points": 1000},
    "full": {"manifolds": ["fermat_quintic", "dwork_quintic"], "lrs": [3e-4, 1e-3, 3e-3],
             "points": [10_000, 28_000, 100_000], "base_lr": 1e-3, "base_points": 28_000,
             "epochs": 10, "widths": [64, 64, 64], "eval_points": 20_000},
}
CONFIG = {"batch_size": 64, "model": {"activation": "gelu"},
          "optimizer": {"schedule": "constant"},
          "eval": {"kahler_points": 0, "ricci_points": 0}}


def combos(s: dict) -> list[tuple[float, int]]:
    """(lr, points): the learning-rate sweep at base_points, the point sweep at base_lr."""
    out = [(lr, s["base_points"]) for lr in s["lrs"]]
    out += [(s["base_lr"], n) for n in s["points"] if (s["base_lr"], n) not in out]
    return out


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    result: dict = {"model": "phi", "settings": s, "config": CONFIG, "runs": {}}
    for name in s["manifolds"]:
        module = load(common.manifold(name))
        data_path, eval_path = common.samples(module, out, max(s["points"] + [s["base_points"]]),
                                              s["eval_points"], prefix=f"{name}_")
        for lr, n in combos(s):
            key = f"{name}/lr{lr:g}/n{n}"
            config = {**CONFIG, "model": {**CONFIG["model"], "widths": s["widths"]},
                      "optimizer": {**CONFIG["optimizer"], "lr": lr}}
            run_dir = out / name / f"lr{lr:g}_n{n}"
            metrics = train(module, run_dir, data=data_path, points=n, epochs=s["epochs"],
                            seed=0, model="phi", config=config, progress=progress)
            fresh = evaluate_run(run_dir, data=eval_path)
            result["runs"][key] = {
                "manifold": name, "lr": lr, "points": n, "status": metrics["status"],
                "sigma_fs": fresh["sigma_fs"], "sigma_val": metrics["sigma"],
                "sigma_fresh": fresh["sigma"], "train_s": metrics["train_s"],
                "curves": common.curves(run_dir)}
    result["table"] = [{k: r[k] for k in ("manifold", "lr", "points", "sigma_fresh",
                                          "sigma_fs", "train_s")}
                       for r in result["runs"].values()]
    result["figures"] = [_figure(out / "learning_rates.png", s, result["runs"])]
    return common.write_result(out, "learning_rates", result, started)


def _figure(path: Path, s: dict, runs: dict) -> str:
    fig, axes = common.figure(2, len(s["manifolds"]), size=(4.6, 3.4))
    for row, name in enumerate(s["manifolds"]):
        mine = [r for r in runs.values() if r["manifold"] == name]
        for col, (label, sweep) in enumerate((("lr", "learning rate"), ("points", "points"))):
            fixed = ("points", s["base_points"]) if label == "lr" else ("lr", s["base_lr"])
            ax = axes[row, col]
            for r in mine:
                if r[fixed[0]] == fixed[1]:
                    ax.plot(r["curves"]["epoch"], r["curves"]["sigma"], marker="o", ms=3,
                            label=f"{sweep} {r[label]:g}")
            ax.axhline(mine[0]["sigma_fs"], ls="--", c="gray", lw=1, label="σ of FS")
            ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.set_ylabel("validation σ")
            ax.set_title(f"{name.replace('_', ' ')}: {sweep} ({fixed[0]} {fixed[1]:g})",
                         fontsize=9)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=7)
    return common.save_figure(fig, path)
