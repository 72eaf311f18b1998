"""Activation functions for the seed's ``ldl`` ansatz on the Fermat quartic K3: tanh, sigmoid,
relu and gelu, everything else equal (same points, seed, widths, loss weights, optimiser).

The talk finds tanh best, and only the smooth activations learning the symmetry.  Each run
logs the validation sigma, kappa, mu per epoch and Delta_sym, the symmetry-learning measure
of docs/symmetries.md (mean relative change of g under random elements of the K3's order-1536
group, on the first ``symmetry_points`` validation points; ``eval.symmetry_points``).
"""

from __future__ import annotations

import time
from pathlib import Path

from cygen.compiler.loader import load
from cygen.learn.trainer import train
from cygen.studies import common

SETTINGS = {
    "small": {"points": 1000, "epochs": 1, "widths": [8], "symmetry_points": 50,
              "activations": ["tanh", "relu"]},
    "full": {"points": 20_000, "epochs": 20, "widths": [128, 128, 128], "symmetry_points": 500,
             "activations": ["tanh", "sigmoid", "relu", "gelu"]},
}
CONFIG = {
    "loss": {"sigma": 1.0, "kahler": 0.1, "transition": 1.0, "volume": 1.0},
    "optimizer": {"lr": 3e-3, "schedule": "cosine", "final_lr": 1e-5},
    "dtype": "float64",
    "batch_size": 64,
}
TERMS = {"sigma": "σ", "kahler": "κ", "transition": "μ", "delta_sym": "Δ_sym"}


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("k3_quartic"))
    data_path = common.points_file(module, out / "data.npz", s["points"], 0)
    result: dict = {"manifold": "k3_quartic", "model": "ldl", "settings": s, "config": CONFIG,
                    "runs": {}}
    for act in s["activations"]:
        config = {**CONFIG, "model": {"activation": act, "widths": s["widths"]},
                  "eval": {"kahler_points": 1000, "ricci_points": 0,
                           "symmetry_points": s["symmetry_points"], "symmetry_elements": 8}}
        start: list[float] = []
        callback = common.with_start_delta_sym(out / act, s["symmetry_points"], start, progress)
        metrics = train(module, out / act, data=data_path, epochs=s["epochs"], seed=0,
                        model="ldl", config=config, progress=callback)
        curves = common.curves(out / act)
        curves["delta_sym"] = common.log_values(out / act, "delta_sym")
        curves["delta_sym_start"] = start[0]
        result["runs"][act] = {
            "status": metrics["status"], "sigma_fs": metrics["sigma_fs"],
            "final": {t: curves[t][-1] if curves.get(t) else None for t in TERMS},
            "best_sigma": min(curves["sigma"]), "curves": curves}
    result["ranking_by_sigma"] = sorted(result["runs"],
                                        key=lambda a: result["runs"][a]["final"]["sigma"])
    result["figures"] = [_figure(out / "activations.png", result["runs"])]
    return common.write_result(out, "activations", result, started)


def _figure(path: Path, runs: dict) -> str:
    fig, axes = common.figure(len(TERMS), size=(3.6, 3.3))
    for ax, (term, label) in zip(axes[0], TERMS.items(), strict=True):
        for act, r in runs.items():
            ys = r["curves"].get(term) or []
            xs = list(r["curves"]["epoch"])
            if term == "delta_sym":  # the initialisation's value at epoch 0
                xs, ys = [0, *xs], [r["curves"]["delta_sym_start"], *ys]
            if any(y is not None and y > 0 for y in ys):
                ax.plot(xs, ys, marker="o", ms=3, label=act)
        if term == "sigma":
            ax.axhline(next(iter(runs.values()))["sigma_fs"], ls="--", c="gray", lw=1,
                       label="FS")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_title(f"K3, ldl: {label}")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return common.save_figure(fig, path)
