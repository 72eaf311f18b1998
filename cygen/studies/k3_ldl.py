"""The seed's ansatz on the Fermat quartic K3: g = L D L^dagger from one network shared by all
twelve charts (the chart as an input: its coordinate roles), trained on sigma + kappa + mu +
volume together, at two weights of kappa: 1 (sigma, kappa and mu fall together, slowly) and
0.3 (sigma and mu fall far, kappa rises: the talk's tension).

Reports, per run, the validation curves of sigma (Monge-Ampère), kappa (Kählerity), mu
(transition) and the Kähler-class term per epoch, whether each ends below its first-epoch
value, sigma of FS on the same points for scale, the conformal baseline (the metric with
sigma = mu = 0 that only pays in kappa, ``common.conformal_baseline``), and plots the curves.
"""

from __future__ import annotations

import time
from pathlib import Path

from cygen.compiler.loader import load
from cygen.learn.trainer import train
from cygen.sampling.sampler import sample
from cygen.studies import common

SETTINGS = {
    "small": {"points": 3000, "epochs": 3, "widths": [32, 32], "baseline_points": 300},
    "full": {"points": 20_000, "epochs": 30, "widths": [128, 128, 128],
             "baseline_points": 4000},
}
CONFIG = {
    "model": {"activation": "tanh"},
    "loss": {"sigma": 1.0, "kahler": 0.3, "transition": 1.0, "volume": 1.0},
    "optimizer": {"lr": 3e-3, "schedule": "cosine", "final_lr": 1e-5},
    "dtype": "float64",
    "batch_size": 64,
    "eval": {"kahler_points": 2000, "ricci_points": 0},
}
KAHLER_WEIGHTS = {"kappa_1": 1.0, "kappa_0.3": 0.3}
TERMS = ["sigma", "kahler", "transition", "volume"]


def run(out: Path, size: str = "full", progress=None) -> dict:

    started = time.monotonic()
    s = SETTINGS[size]
    module = load(common.manifold("k3_quartic"))
    fresh = sample(module, s["baseline_points"], seed=1, purpose="study")
    result = {"manifold": "k3_quartic", "model": "ldl", "settings": s, "runs": {},
              "conformal_baseline": common.conformal_baseline(module, fresh)}
    fig, axes = common.figure(len(KAHLER_WEIGHTS))
    for i, (label, kappa) in enumerate(KAHLER_WEIGHTS.items()):
        config = {**CONFIG, "model": {**CONFIG["model"], "widths": s["widths"]},
                  "loss": {**CONFIG["loss"], "kahler": kappa}}
        metrics = train(module, out / label, points=s["points"], epochs=s["epochs"], seed=0,
                        model="ldl", config=config, progress=progress)
        data = common.curves(out / label)
        kappas = data.get("kahler") or [0.0]
        peak = max(range(len(kappas)), key=lambda j: kappas[j] or 0.0)
        result["runs"][label] = {
            "config": config, "status": metrics["status"], "sigma_fs": metrics["sigma_fs"],
            "final": {t: metrics.get(t) for t in TERMS},
            "decreased": {t: common.decreasing(data.get(t, [])) for t in TERMS},
            # the network starts near a constant (hence Kähler) metric, so kappa may first
            # rise; from its peak on, do sigma, kappa and mu fall together?
            "kahler_peak_epoch": peak + 1,
            "decreased_after_kahler_peak": {t: common.decreasing(data.get(t, []), peak)
                                             for t in TERMS},
            "curves": data,
        }
        ax = axes[0, i]
        common.plot_curves(ax, data, TERMS, f"K3, ldl, κ weight {kappa:g}: validation",
                           {"sigma": "σ", "kahler": "κ", "transition": "μ",
                            "volume": "Kähler class"})
        ax.axhline(metrics["sigma_fs"], ls="--", c="gray", lw=1, label="σ of FS")
    result["figures"] = [common.save_figure(fig, out / "k3_ldl_curves.png")]
    return common.write_result(out, "k3_ldl", result, started)
