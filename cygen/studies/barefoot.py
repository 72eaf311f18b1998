"""The talk's "barefoot" picture: the log-density of sampled points of the Fermat quintic and
the Dwork quintic (psi = -1/5) projected to one complex coordinate plane, z1/z0 on the points
of the z0 patch (|z0| largest), side by side.

The top row is the density of the sampled points (the talk's figure), the bottom row the
density of the Calabi-Yau volume |Omega|^2 (each point weighted by its Monte-Carlo weight).
Reports the fraction of the patch's points near the five "toes" z1/z0 = fifth roots of -1
(where the Fermat equation is solved by z1^5 = -z0^5 with the other coordinates small), so the
talk's remark that the Dwork deformation dilutes those five points can be checked in numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cygen.compiler.loader import load
from cygen.evaluate.plots import coordinate_plane
from cygen.sampling.sampler import sample
from cygen.studies import common

SETTINGS = {
    "small": {"points": 3000, "bins": 30},
    "full": {"points": 150_000, "bins": 100},
}
MANIFOLDS = {"fermat_quintic": "Fermat quintic", "dwork_quintic": "Dwork quintic, ψ = −1/5"}
TOES = np.exp(1j * np.pi * (2 * np.arange(5) + 1) / 5)  # z1/z0 with z1^5 = -z0^5
TOE_RADIUS = 0.1
LIMIT = 1.02


def run(out: Path, size: str = "full", progress=None) -> dict:
    started = time.monotonic()
    s = SETTINGS[size]
    result: dict = {"settings": s, "plane": "z1/z0 on the z0 patch", "toe_radius": TOE_RADIUS,
                    "manifolds": {}}
    hists = {}
    for name in MANIFOLDS:
        data = sample(load(common.manifold(name)), s["points"], seed=0, purpose="study")
        values, ok = coordinate_plane(data.points, 1, 0)
        u, w = values[ok], np.asarray(data.weights)[ok]
        near = np.min(np.abs(u[:, None] - TOES[None, :]), axis=1) < TOE_RADIUS
        result["manifolds"][name] = {
            "points": len(data), "in_patch": int(ok.sum()),
            "toe_fraction": float(near.mean()),
            "toe_volume_fraction": float(np.sum(w[near]) / np.sum(w)),
            "disc_area_fraction": float(5 * TOE_RADIUS**2),  # of the unit disc (pi cancels)
        }
        hists[name] = [_log_density(u, None, s["bins"]), _log_density(u, w, s["bins"])]
    result["figures"] = [_figure(out / "barefoot.png", hists)]
    return common.write_result(out, "barefoot", result, started)


def _log_density(u: np.ndarray, weights: np.ndarray | None, bins: int) -> np.ndarray:
    """log10 of the normalised density of the points ``u`` (complex) on [-LIMIT, LIMIT]^2."""
    hist, xe, ye = np.histogram2d(u.real, u.imag, bins=bins, range=[[-LIMIT, LIMIT]] * 2,
                                  weights=weights)
    area = (xe[1] - xe[0]) * (ye[1] - ye[0])
    with np.errstate(divide="ignore"):
        density = np.log10(hist / (hist.sum() * area))
    density[~np.isfinite(density)] = np.nan
    return density


def _figure(path: Path, hists: dict[str, list[np.ndarray]]) -> str:
    fig, axes = common.figure(2, 2, size=(4.3, 3.9))
    rows = ("sampled points", "|Ω|²-weighted (CY volume)")
    for row, label in enumerate(rows):
        values = np.concatenate([h[row][np.isfinite(h[row])] for h in hists.values()])
        vmin, vmax = np.quantile(values, [0.01, 1.0])
        image = None
        for col, (name, hs) in enumerate(hists.items()):
            ax = axes[row, col]
            ax.set_facecolor("black")
            image = ax.imshow(hs[row].T, origin="lower", extent=(-LIMIT, LIMIT, -LIMIT, LIMIT),
                              cmap="magma", interpolation="nearest", vmin=vmin, vmax=vmax)
            ax.set_title(f"{MANIFOLDS[name]}: {label}", fontsize=9)
            ax.set_xlabel("Re z1/z0")
            ax.set_ylabel("Im z1/z0")
        fig.colorbar(image, ax=axes[row, :], shrink=0.9, label="log₁₀ density")
    return common.save_figure(fig, path)
