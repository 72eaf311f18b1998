"""The seed's ansatz on the Fermat quartic K3: g = L D L^dagger from one network shared by all
twelve charts (the chart as a one-hot input), trained on sigma + kappa + mu + volume together.

Reports the validation curves of sigma (Monge-Ampère), kappa (Kählerity), mu (transition)
and the Kähler-class term per epoch, whether each ends below its first-epoch value, sigma of
FS on the same points for scale, and plots the curves.
"""

from __future__ import annotations

import time
from pathlib import Path

import cygen
from cygen.studies import common

SETTINGS = {
    "small": {"points": 3000, "epochs": 3, "widths": [32, 32]},
    "full": {"points": 20_000, "epochs": 30, "widths": [128, 128, 128]},
}
CONFIG = {
    "model": {"activation": "tanh"},
    "loss": {"sigma": 1.0, "kaehler": 0.3, "transition": 1.0, "volume": 1.0},
    "optimizer": {"lr": 3e-3, "schedule": "cosine", "final_lr": 1e-5},
    "dtype": "float64",
    "batch_size": 64,
    "eval": {"kaehler_points": 2000, "ricci_points": 0},
}


def run(out: Path, size: str = "full", progress=None) -> dict:
    from cygen.train import train

    started = time.monotonic()
    s = SETTINGS[size]
    config = {**CONFIG, "model": {**CONFIG["model"], "widths": s["widths"]}}
    module = cygen.load(common.manifold("k3_quartic"))
    metrics = train(module, out / "run", points=s["points"], epochs=s["epochs"], seed=0,
                    model="ldl", config=config, progress=progress)
    data = common.curves(out / "run")
    terms = ["sigma", "kaehler", "transition", "volume"]
    kappa = data.get("kaehler") or [0.0]
    peak = max(range(len(kappa)), key=lambda i: kappa[i] or 0.0)
    result = {
        "manifold": "k3_quartic", "model": "ldl", "settings": s, "config": config,
        "status": metrics["status"], "sigma_fs": metrics["sigma_fs"],
        "final": {t: metrics.get(t) for t in terms},
        "decreased": {t: common.decreasing(data.get(t, [])) for t in terms},
        # the network starts near a constant (hence Kähler) metric, so kappa first rises;
        # from its peak on, do sigma, kappa and mu fall together?
        "kaehler_peak_epoch": peak + 1,
        "decreased_after_kaehler_peak": {t: common.decreasing(data.get(t, []), peak)
                                         for t in terms},
        "curves": data,
    }
    fig, axes = common.figure()
    common.plot_curves(axes[0, 0], data, terms, "K3 (Fermat quartic), ldl: validation",
                       {"sigma": "σ", "kaehler": "κ", "transition": "μ",
                        "volume": "Kähler class"})
    axes[0, 0].axhline(metrics["sigma_fs"], ls="--", c="gray", lw=1, label="σ of FS")
    result["figures"] = [common.save_figure(fig, out / "k3_ldl_curves.png")]
    return common.write_result(out, "k3_ldl", result, started)
