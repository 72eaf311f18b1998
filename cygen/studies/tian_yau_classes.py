"""Tian-Yau with the seed's ``ldl`` ansatz and one (L, D) network pair per patch class (the
7 orbits of the 288 charts under the coordinate permutations, docs/symmetries.md; the talk
uses 4 networks for its 4 pattern classes), against one network shared by all charts (the
chart's coordinate roles as input), with the full loss (sigma, kappa, mu, Kähler class).

Same points, seed, widths per network, loss weights and optimiser for both; both start at
Fubini-Study (model option ``start = "fs"``, as in the ``tian_yau`` study): from the identity
in every chart both stay above sigma_FS (0.253 per class, 0.285 shared, FS 0.211, after 10
epochs at the full size).  Logs
Delta_sym per epoch (and at the initialisation): per-class networks are related by the
permutations by construction, so only the phase symmetries are left to learn.
"""

from __future__ import annotations

import time
from pathlib import Path

from cygen.compiler.loader import load
from cygen.learn.runs import load_run
from cygen.learn.trainer import train
from cygen.studies import common

SETTINGS = {
    "small": {"points": 1500, "epochs": 1, "widths": [8], "symmetry_points": 50,
              "networks": ["per_class", "shared"]},
    "full": {"points": 20_000, "epochs": 10, "widths": [64, 64, 64], "symmetry_points": 300,
             "networks": ["per_class", "shared"]},
}
CONFIG = {
    "loss": {"sigma": 1.0, "kahler": 0.1, "transition": 1.0, "volume": 1.0},
    "optimizer": {"lr": 3e-3, "schedule": "cosine", "final_lr": 1e-5},
    "dtype": "float64",
    "batch_size": 64,
}
TERMS = ["sigma", "kahler", "transition", "volume"]
LABELS = {"sigma": "σ", "kahler": "κ", "transition": "μ", "volume": "Kähler class"}


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("tian_yau"))
    data_path = common.points_file(module, out / "data.npz", s["points"], 0)
    result: dict = {"manifold": "tian_yau", "model": "ldl", "settings": s, "config": CONFIG,
                    "patch_classes": len(module.SPEC["patch_classes"]), "runs": {}}
    for networks in s["networks"]:
        config = {**CONFIG, "model": {"activation": "tanh", "start": "fs",
                                      "widths": s["widths"], "networks": networks},
                  "eval": {"kahler_points": 1000, "ricci_points": 0,
                           "symmetry_points": s["symmetry_points"], "symmetry_elements": 8}}
        start: list[float] = []
        callback = common.with_start_delta_sym(out / networks, s["symmetry_points"], start,
                                               progress)
        metrics = train(module, out / networks, data=data_path, epochs=s["epochs"], seed=0,
                        model="ldl", config=config, progress=callback)
        curves = common.curves(out / networks)
        curves["delta_sym"] = common.log_values(out / networks, "delta_sym")
        result["runs"][networks] = {
            "status": metrics["status"], "sigma_fs": metrics["sigma_fs"],
            "final": {t: metrics.get(t) for t in TERMS} | {"delta_sym": curves["delta_sym"][-1]},
            "delta_sym_start": start[0], "train_s": metrics["train_s"],
            "parameters": _count(out / networks), "curves": curves}
    result["figures"] = [_figure(out / "tian_yau_classes.png", result["runs"])]
    return common.write_result(out, "tian_yau_classes", result, started)


def _count(run_dir: Path) -> int:
    """Number of real parameters of a run's model."""
    import jax


    return int(sum(x.size for x in jax.tree.leaves(load_run(run_dir).params)))


def _figure(path: Path, runs: dict) -> str:
    fig, axes = common.figure(len(runs) + 1, size=(4.0, 3.4))
    for ax, (name, r) in zip(axes[0], runs.items(), strict=False):
        common.plot_curves(ax, r["curves"], TERMS, f"Tian-Yau, ldl {name}", LABELS)
        ax.axhline(r["sigma_fs"], ls="--", c="gray", lw=1)
    ax = axes[0, -1]
    for name, r in runs.items():
        ax.plot([0, *r["curves"]["epoch"]], [r["delta_sym_start"], *r["curves"]["delta_sym"]],
                marker="o", ms=3, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("Δ_sym (symmetry learning)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return common.save_figure(fig, path)
