"""Figures: point densities, training curves, eta = det g / |Omega|^2, curvature.

Headless by construction: figures are :class:`matplotlib.figure.Figure` objects drawn on an
Agg canvas, never through ``pyplot`` (no global state, no display needed).  Two kinds of
functions live here:

* ``*_data(run, ...)`` gather the per-point numbers of a trained run (on the run's own
  validation points when its ``data.npz`` is there, fresh samples otherwise);
* ``*_figure(...)`` are pure: arrays in, a ``Figure`` out.

:func:`save` writes a figure as a PNG atomically; :func:`png_bytes` gives the bytes (for the
HTML report).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Circle
from matplotlib.ticker import MaxNLocator

from cygen.core.io import atomic_write
from cygen.evaluate.integrals import default_batch, evaluate, point_function
from cygen.geometry import runtime as rt
from cygen.geometry.measure import sigma
from cygen.learn.config import upgrade_config
from cygen.learn.data import split
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

# loss terms of log.jsonl, in the order they are drawn, with their names
TERMS: dict[str, str] = {
    "sigma": "σ (Monge–Ampère)",
    "kahler": "κ (Kählerity)",
    "transition": "μ (transitions)",
    "ricci": "Ricci",
    "volume": "volume (Kähler class)",
}
DPI = 100


# ----------------------------------------------------------------------------- output


def png_bytes(fig: Figure, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes (Agg canvas)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save(fig: Figure, path: str | os.PathLike, dpi: int = DPI) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically (readers never see a partial file)."""
    return atomic_write(path, png_bytes(fig, dpi))


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _positive(values: Sequence[float | None]) -> np.ndarray:
    """Values for a log axis: None, non-finite and non-positive become NaN (not drawn)."""
    x = np.array([np.nan if v is None else float(v) for v in values])
    x[~np.isfinite(x) | (x <= 0)] = np.nan
    return x


# ----------------------------------------------------------------------------- points


def coordinate_plane(points: np.ndarray, coord: int, over: int | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(values, mask) plotted by :func:`points_figure`, all in the unit disc.

    ``over=None``: z_coord / (the largest coordinate of its factor), i.e. z_coord of the
    ``normalize``d point, on every point where z_coord is not itself the largest (those all
    sit at 1).  ``over=j``: the affine coordinate z_coord/z_j on the points of the z_j patch
    (|z_j| largest in its factor).
    """
    n = points.shape[1]
    for i in (coord, over):
        if i is not None and not 0 <= i < n:
            raise ValueError(f"coordinate index {i} out of range 0..{n - 1}")
    if over is None:
        values = points[:, coord]
        return values, np.isfinite(values) & (np.abs(values) < 1 - 1e-9)
    if over == coord:
        raise ValueError("the coordinate and the one it is divided by must differ")
    with np.errstate(divide="ignore", invalid="ignore"):
        values = points[:, coord] / points[:, over]
    mask = (np.abs(points[:, over]) >= 1 - 1e-9) & np.isfinite(values)
    return values, mask


def points_figure(
    points: np.ndarray,
    chart: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    coord: int = 1,
    over: int | None = None,
    dimension: int = 3,
    names: Sequence[str] | None = None,
    bins: int | None = None,
    limit: float = 1.02,
    title: str = "",
) -> Figure:
    """Log-density of the points in one complex coordinate plane (the "barefoot" figure).

    The plane is z_coord of the normalised points, or z_coord/z_over on the z_over patch
    (see :func:`coordinate_plane`).  ``weights`` (the Monte-Carlo weights) give the density of
    the Calabi–Yau volume form |Omega|^2; without them, the density of the sampled points.
    ``bins`` defaults to about sqrt(points)/2 per axis (20 to 200).  For curves
    (``dimension`` 1) a second panel colours the points by their chart: the patch regions.
    """
    names = list(names) if names is not None else [f"z{i}" for i in range(points.shape[1])]
    w, ok = coordinate_plane(points, coord, over)
    ok = ok & (np.abs(w.real) <= limit) & (np.abs(w.imag) <= limit)
    if bins is None:
        bins = int(np.clip(np.sqrt(ok.sum()) / 1.6, 20, 200))
    label = f"{names[coord]}/max" if over is None else f"{names[coord]}/{names[over]}"
    panels = 2 if dimension == 1 else 1
    fig = _figure(5.6 * panels + 0.6, 5.0)
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    hist, xe, ye = np.histogram2d(
        w.real[ok], w.imag[ok], bins=bins, range=[[-limit, limit], [-limit, limit]],
        weights=None if weights is None else np.asarray(weights)[ok],
    )
    area = (xe[1] - xe[0]) * (ye[1] - ye[0])
    total = hist.sum()
    with np.errstate(divide="ignore"):
        density = np.log10(hist / (total * area)) if total > 0 else np.full_like(hist, np.nan)
    density[~np.isfinite(density)] = np.nan
    image = ax.imshow(density.T, origin="lower", extent=(-limit, limit, -limit, limit),
                      cmap="magma", interpolation="nearest", aspect="equal")
    fig.colorbar(image, ax=ax, shrink=0.85,
                 label="log₁₀ density" + (" (weighted by |Ω|²)" if weights is not None else ""))
    ax.set_facecolor("black")
    ax.add_patch(Circle((0, 0), 1.0, fill=False, color="0.6", lw=0.6, ls="--"))
    ax.set_xlabel(f"Re {label}")
    ax.set_ylabel(f"Im {label}")
    where = (f" where {names[coord]} is not the largest" if over is None
             else f" with |{names[over]}| largest")
    ax.set_title(f"{int(ok.sum())} of {len(w)} points{where}"
                 + (", weighted" if weights is not None else ""))
    if dimension == 1:
        ax = axes[1]
        keep = np.flatnonzero(ok)[:: max(1, int(ok.sum()) // 6000)]  # at most ~6000 dots
        charts, wk = np.asarray(chart)[keep], w[keep]
        labels = np.unique(charts)
        if len(labels) <= 20:
            for k, c in enumerate(labels):
                sel = charts == c
                ax.scatter(wk.real[sel], wk.imag[sel], s=2, color=f"C{k % 10}",
                           marker="o" if k < 10 else "x", rasterized=True, linewidths=0.5,
                           label=f"chart {c}")
            ax.legend(fontsize=7, markerscale=4, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        else:
            sc = ax.scatter(wk.real, wk.imag, c=charts, s=2, cmap="nipy_spectral",
                            rasterized=True, linewidths=0)
            fig.colorbar(sc, ax=ax, shrink=0.85, label="chart")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_xlabel(f"Re {label}")
        ax.set_ylabel(f"Im {label}")
        ax.set_title("patch regions (colour = chart)")
    fig.suptitle(title or f"points in the {label} plane")
    return fig


# ----------------------------------------------------------------------------- training


def read_log(run_dir: str | os.PathLike) -> list[dict]:
    """The per-epoch entries of ``RUN/log.jsonl`` (empty if absent; cygen 0.1's key
    spellings upgraded)."""
    path = Path(run_dir) / "log.jsonl"
    if not path.exists():
        return []
    return [upgrade_config(json.loads(line), warn=False)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_figure(log: Sequence[dict], metrics: dict | None = None, title: str = "",
                    powers: dict[str, float] | None = None) -> Figure:
    """One log-scale panel per loss term (σ, κ, μ, Ricci, volume) present in the log: the
    training mean (solid) and the float64 validation (dashed) per epoch; σ of Fubini–Study
    on the same validation points as a reference line.  ``powers`` (the run's
    ``loss_power``): terms whose training curve is the mean |r|ᵖ as trained, not the norm
    that validation reports; their legend says so."""
    powers = powers or {}
    present = [t for t in TERMS if any(t in e.get("train", {}) or t in e.get("val", {})
                                       for e in log)]
    present = present or ["sigma"]
    cols = min(3, len(present))
    rows = -(-len(present) // cols)
    fig = _figure(max(4.4 * cols + 0.4, 6.4), 3.4 * rows + 0.6)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    epochs = [e.get("epoch") for e in log]
    for ax, term in zip(axes, present, strict=False):
        p = powers.get(term, 1)
        trained = "train" if p == 1 else f"train (mean |r|^{p:g}, as trained)"
        for part, style in (("train", "-o"), ("val", "--s")):
            y = _positive([e.get(part, {}).get(term) for e in log])
            label = trained if part == "train" else part
            if np.any(np.isfinite(y)):
                ax.plot(epochs, y, style, ms=4, label=label)
            else:
                ax.plot([], [], style, label=f"{label}: no positive values")
        if term == "sigma" and metrics and metrics.get("sigma_fs"):
            ax.axhline(float(metrics["sigma_fs"]), color="grey", ls=":", label="σ of FS")
        ax.set_yscale("log")
        ax.set_title(TERMS[term])
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    for ax in axes[len(present):]:
        ax.set_visible(False)
    if not log:
        axes[0].text(0.5, 0.5, "log.jsonl is empty", ha="center", transform=axes[0].transAxes)
    if not title and metrics:
        title = (f"training of {metrics.get('name', '?')}\n({metrics.get('model', '?')} model, "
                 f"{metrics.get('epochs', '?')} epochs, {metrics.get('status', '?')})")
    fig.suptitle(title or "training")
    return fig


# ----------------------------------------------------------------------------- run data


def run_points(run: Any, n: int, seed: int | None = None) -> Dataset:
    """Up to ``n`` validation points of a run (its ``data.npz`` split exactly as in training);
    ``n`` fresh samples (the run seed's ``plot`` stream) if the run's data file is gone."""
    cfg = run.config
    path = Path(cfg.get("data") or "data.npz")
    path = path if path.is_absolute() else Path(run.path) / path
    if path.exists():
        ds = Dataset.load(path)
        total = min(len(ds), int(cfg.get("points") or len(ds)))
        _, val = split(total, int(cfg.get("seed", 0)), float(cfg.get("val_fraction", 0.1)))
        idx = np.sort(val[:n])
        return ds.subset(idx)
    return sample(run.module, n, int(cfg.get("seed", 0)) if seed is None else seed,
                  purpose="plot")


def chart_groups(spec: dict) -> list[list[int]] | None:
    """Chart indices per patch class from ``SPEC["patch_classes"]`` (a list of chart lists)
    or ``SPEC["patch_class_of_chart"]`` (a class per chart); None when the module has none."""
    classes = spec.get("patch_classes")
    try:
        if classes and all(isinstance(c, Sequence) for c in classes):
            out = [[int(x) for x in c] for c in classes]
            if out and all(out):
                return out
        of_chart = spec.get("patch_class_of_chart")
        if of_chart:
            labels = [int(x) for x in of_chart]
            return [[i for i, c in enumerate(labels) if c == k] for k in sorted(set(labels))]
    except (TypeError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class EtaData:
    """eta = det g / |Omega|^2 of FS and of a learned metric on weighted points."""

    weights: np.ndarray
    eta_fs: np.ndarray
    eta: np.ndarray
    chart: np.ndarray
    n_charts: int
    classes: list[list[int]] | None
    name: str = ""


_CACHE: dict = {}  # per-run compiled functions, most recent last
_CACHE_MAX = 8


def _cached(kind: str, run: Any, build):
    """``build()`` once per run checkpoint (path, mtime, size) and ``kind``: figures of the
    same run in one process (the report, tests) share their compiled functions."""
    checkpoint = Path(run.path) / "checkpoint.npz"
    stat = checkpoint.stat() if checkpoint.exists() else None
    key = (kind, str(Path(run.path).resolve()), id(run.module),
           stat and (stat.st_mtime_ns, stat.st_size))
    if key not in _CACHE:
        _CACHE[key] = build()
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
    return _CACHE[key]


def eta_data(run: Any, n: int = 5000, data: Dataset | None = None) -> EtaData:
    """eta of FS and of the run's metric on ``n`` of the run's validation points."""
    ds = data if data is not None else run_points(run, n)
    module = run.module

    def one(z, chart):
        return {"fs": jnp.real(rt.det(module.fs_metric(z, chart))),
                "run": jnp.real(rt.det(run.metric_in(z, chart)))}

    fn = _cached("eta", run, lambda: jax.jit(jax.vmap(one)))
    out = evaluate(fn, ds.points, ds.chart, 1024)
    spec = module.SPEC
    return EtaData(ds.weights, out["fs"] / ds.omega_sq, out["run"] / ds.omega_sq,
                   np.asarray(ds.chart), len(spec["charts"]), chart_groups(spec),
                   spec["name"])


def sigma_groups(weights: np.ndarray, eta: np.ndarray, groups: np.ndarray,
                 n_groups: int) -> np.ndarray:
    """σ restricted to each group of points (NaN for empty groups), with the global η̄:
    Σ_group w |1 − η/η̄| / Σ_group w, so the groups' σ average (by weight) to the global σ."""
    eta_bar = np.sum(weights * eta) / np.sum(weights)
    dev = weights * np.abs(1 - eta / eta_bar)
    num = np.bincount(groups, dev, minlength=n_groups)
    den = np.bincount(groups, weights, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _fs_vs_learned(ax, edges, fs: tuple, learned: tuple) -> None:
    """Weighted density histograms of FS and of the learned metric: each (values, weights,
    label detail)."""
    for (values, weights, detail), name, alpha in ((fs, "Fubini–Study", 0.45),
                                                   (learned, "learned", 0.6)):
        ax.hist(values, edges, weights=weights, density=True, histtype="stepfilled",
                alpha=alpha, label=f"{name} ({detail})")


def eta_figure(d: EtaData, title: str = "") -> Figure:
    """Histogram of η/η̄ (FS and learned), σ per chart, and σ per patch class."""
    ok = np.isfinite(d.eta) & np.isfinite(d.eta_fs) & np.isfinite(d.weights)
    w, fs, run, chart = d.weights[ok], d.eta_fs[ok], d.eta[ok], d.chart[ok].astype(int)
    fig = _figure(15.5, 4.6)
    ax_h, ax_c, ax_p = fig.subplots(1, 3, width_ratios=[1.1, 1.3, 1.0])
    r_fs = fs / (np.sum(w * fs) / np.sum(w))
    r_run = run / (np.sum(w * run) / np.sum(w))
    lo, hi = np.quantile(np.concatenate([r_fs, r_run, [1.0]]), [0.002, 0.998])
    pad = 0.05 * (hi - lo) + 1e-6
    edges = np.linspace(max(lo - pad, 0.0), hi + pad, 81)
    s_fs, s_run = sigma(w, fs), sigma(w, run)
    _fs_vs_learned(ax_h, edges, (r_fs, w, f"σ = {s_fs:.3g}"), (r_run, w, f"σ = {s_run:.3g}"))
    ax_h.axvline(1.0, color="k", lw=0.8, ls=":")
    ax_h.set_xlabel("η / η̄   (η = det g / |Ω|²)")
    ax_h.set_ylabel("density (weighted by |Ω|²)")
    ax_h.set_title(f"η/η̄ on {len(w)} points")
    ax_h.legend(fontsize=8)

    per_fs = sigma_groups(w, fs, chart, d.n_charts)
    per_run = sigma_groups(w, run, chart, d.n_charts)
    x = np.arange(d.n_charts)
    ax_c.bar(x - 0.2, per_fs, 0.4, label="FS")
    ax_c.bar(x + 0.2, per_run, 0.4, label="learned")
    ax_c.set_yscale("log")
    ax_c.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_c.set_xlabel("chart")
    ax_c.set_ylabel("σ on the chart's points (global η̄)")
    ax_c.set_title(f"σ per chart ({int(np.sum(np.isfinite(per_run)))} of {d.n_charts} "
                   "charts hold points)")
    ax_c.legend(fontsize=8)

    if d.classes:
        label = np.full(d.n_charts, -1)
        for k, members in enumerate(d.classes):
            label[[m for m in members if 0 <= m < d.n_charts]] = k
        cls = label[chart]
        keep = cls >= 0
        k = len(d.classes)
        c_fs = sigma_groups(w[keep], fs[keep], cls[keep], k)
        c_run = sigma_groups(w[keep], run[keep], cls[keep], k)
        xc = np.arange(k)
        ax_p.bar(xc - 0.2, c_fs, 0.4, label="FS")
        ax_p.bar(xc + 0.2, c_run, 0.4, label="learned")
        ax_p.set_yscale("log")
        ax_p.set_xticks(xc, [f"{i}\n({len(m)})" for i, m in enumerate(d.classes)]
                        if k <= 12 else None)
        ax_p.set_xlabel("patch class (number of charts)")
        ax_p.set_ylabel("σ")
        ax_p.set_title(f"σ per patch class ({k} classes)")
        ax_p.legend(fontsize=8)
    else:
        ax_p.axis("off")
        ax_p.text(0.5, 0.5, "no patch classes in this module's SPEC:\nσ per chart only",
                  ha="center", va="center", transform=ax_p.transAxes)
    fig.suptitle(title or f"η = det g / |Ω|² of {d.name}")
    return fig


# ----------------------------------------------------------------------------- curvature


@dataclass(frozen=True)
class CurvatureData:
    """Per-point curvature of FS and a learned metric: det g, Ricci scalar R, Euler density
    e (χ = ∫ e dvol_g), with the points and their weights (1/ρ = weights / omega_sq)."""

    points: np.ndarray
    inv_rho: np.ndarray
    det_g: np.ndarray
    scalar: np.ndarray
    euler: np.ndarray
    det_fs: np.ndarray
    scalar_fs: np.ndarray
    euler_fs: np.ndarray
    first_factor: int  # number of coordinates of the first ambient factor
    name: str = ""


def curvature_data(run: Any, n: int = 2000, data: Dataset | None = None) -> CurvatureData:
    """Curvature of FS and of the run's metric on ``n`` of the run's validation points."""
    ds = data if data is not None else run_points(run, n)
    module = run.module
    fs = evaluate(point_function(module, None, "curvature"), ds.points, ds.chart)
    learned = evaluate(point_function(module, run, "curvature"), ds.points, ds.chart,
                       default_batch(run))
    return CurvatureData(
        ds.points, ds.weights / ds.omega_sq,
        learned["det_g"], learned["scalar"], learned["chern"][:, -1],
        fs["det_g"], fs["scalar"], fs["chern"][:, -1],
        int(module.GEOMETRY.factor_sizes[0]), module.SPEC["name"],
    )


def _binned_mean(x: np.ndarray, y: np.ndarray, w: np.ndarray, edges: np.ndarray):
    idx = np.clip(np.digitize(x, edges) - 1, 0, len(edges) - 2)
    num = np.bincount(idx, w * y, minlength=len(edges) - 1)
    den = np.bincount(idx, w, minlength=len(edges) - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 0.5 * (edges[1:] + edges[:-1]), np.where(den > 0, num / den, np.nan)


def sorted_moduli(points: np.ndarray, size: int) -> np.ndarray:
    """|z_i| of the first factor's coordinates, largest first (the first is 1 after
    ``normalize``): chart-independent |z|-based coordinates."""
    return -np.sort(-np.abs(points[:, :size]), axis=1)


def curvature_figure(d: CurvatureData, title: str = "") -> Figure:
    """Ricci scalar distribution (FS vs learned), the Euler density against the second
    largest |z_i|, and a map of the learned Euler density over the 2nd and 3rd largest."""
    ok = (np.isfinite(d.scalar) & np.isfinite(d.euler) & np.isfinite(d.det_g)
          & np.isfinite(d.scalar_fs) & np.isfinite(d.euler_fs))
    dv = (d.inv_rho * d.det_g)[ok]  # dvol of the learned metric
    dv_fs = (d.inv_rho * d.det_fs)[ok]
    r, r_fs = d.scalar[ok], d.scalar_fs[ok]
    e, e_fs = d.euler[ok], d.euler_fs[ok]
    mod = sorted_moduli(d.points[ok], d.first_factor)
    panels = 3 if d.first_factor >= 3 else 2
    fig = _figure(5.0 * panels + 0.5, 4.6)
    axes = fig.subplots(1, panels)

    ax = axes[0]
    both = np.concatenate([r, r_fs])
    lo, hi = np.quantile(both, [0.005, 0.995]) if len(both) else (-1.0, 1.0)
    lo, hi = (lo - 1, hi + 1) if hi <= lo else (lo, hi)
    edges = np.linspace(lo, hi, 81)
    _fs_vs_learned(ax, edges, (r_fs, dv_fs, f"mean {np.sum(dv_fs * r_fs) / np.sum(dv_fs):.3g}"),
                   (r, dv, f"mean {np.sum(dv * r) / np.sum(dv):.3g}"))
    ax.axvline(0.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("Ricci scalar R = g^{kl̄} Ric_{kl̄}")
    ax.set_ylabel("density (weighted by dvol_g)")
    ax.set_title(f"Ricci scalar on {int(ok.sum())} points")
    ax.legend(fontsize=8)

    ax = axes[1]
    x = mod[:, 1] if mod.shape[1] > 1 else mod[:, 0]
    ax.scatter(x, e_fs, s=2, alpha=0.25, color="C0", rasterized=True, linewidths=0)
    ax.scatter(x, e, s=2, alpha=0.25, color="C1", rasterized=True, linewidths=0)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 16))) if len(x) else np.array([0, 1.0])
    xc, m_fs = _binned_mean(x, e_fs, dv_fs, edges)
    _, m = _binned_mean(x, e, dv, edges)
    ax.plot(xc, m_fs, "-o", color="C0", ms=3, label="FS: binned mean (dvol-weighted)")
    ax.plot(xc, m, "-o", color="C1", ms=3, label="learned: binned mean")
    spread = np.concatenate([e, e_fs, m, m_fs])
    spread = spread[np.isfinite(spread)]
    if len(spread):
        lo, hi = np.quantile(spread, [0.03, 0.97])
        pad = 0.15 * (hi - lo) or 1.0
        ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(0.0, color="k", lw=0.6, ls=":")
    ax.set_xlabel("second largest |z_i| (first factor, normalised)")
    ax.set_ylabel("Euler density e  (χ = ∫ e dvol_g)")
    ax.set_title("Euler density against |z|")
    ax.legend(fontsize=8)

    if panels == 3:
        ax = axes[2]
        span = [[float(np.min(mod[:, k])), float(np.max(mod[:, k])) + 1e-9] if len(mod)
                else [0.0, 1.0] for k in (1, 2)]
        h_num, xe, ye = np.histogram2d(mod[:, 1], mod[:, 2], bins=30, range=span,
                                       weights=dv * e)
        h_den, _, _ = np.histogram2d(mod[:, 1], mod[:, 2], bins=30, range=span, weights=dv)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(h_den > 0, h_num / h_den, np.nan)
        finite = mean[np.isfinite(mean)]
        vmax = float(np.quantile(np.abs(finite), 0.95)) if finite.size else 1.0
        image = ax.imshow(mean.T, origin="lower", extent=(*span[0], *span[1]),
                          cmap="coolwarm", vmin=-vmax, vmax=vmax, aspect="auto",
                          interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.85, label="mean Euler density (learned)")
        ax.set_xlabel("second largest |z_i|")
        ax.set_ylabel("third largest |z_i|")
        ax.set_title("learned Euler density over |z|")
    fig.suptitle(title or f"curvature of {d.name}")
    return fig


__all__ = [
    "CurvatureData", "EtaData", "coordinate_plane", "curvature_data", "curvature_figure",
    "eta_data", "eta_figure", "chart_groups", "png_bytes", "points_figure", "read_log",
    "moduli_matrix_figure", "moduli_scan_figure", "run_points", "save", "sigma_groups",
    "sorted_moduli", "training_figure",
]


# ----------------------------------------------------------------------------- moduli


def _scan_axis(rows: Sequence[dict]) -> tuple[np.ndarray, str]:
    values = np.array([complex(*r["value"]) for r in rows])
    if np.allclose(values.imag, 0):
        return values.real, "Re t"
    if np.allclose(values.real, 0):
        return values.imag, "Im t"
    return np.abs(values - values[0]), "|t - t_start|"


def moduli_scan_figure(doc: dict, exact: Sequence[dict] | None = None) -> Figure:
    """G_{t tbar} and lambda = |kappa| e^K G^(-3/2) along a ``cygen moduli --scan`` segment,
    with their jackknife errors; ``exact`` (one dict per row with ``wp_metric`` and
    ``yukawa_normalised``, e.g. :func:`cygen.evaluate.periods.dwork_exact`) drawn as lines.
    Rows that failed (a singular member) are marked on the axis."""
    rows = [r for r in doc["rows"] if "error" not in r]
    failed = [r for r in doc["rows"] if "error" in r]
    x, label = _scan_axis(doc["rows"])
    keep = np.array(["error" not in r for r in doc["rows"]])
    panels = [("wp_metric", "Weil–Petersson metric G")]
    if any("yukawa_normalised" in r for r in rows):
        panels.append(("yukawa_normalised", "λ = |κ| e^K G^(-3/2)"))
    fig = _figure(4.6 * len(panels) + 0.4, 3.6)
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    for ax, (key, title) in zip(axes, panels, strict=True):
        y = np.array([r.get(key, np.nan) for r in rows], float)
        err = np.array([r.get(key + "_err", np.nan) for r in rows], float)
        ax.errorbar(x[keep], y, yerr=err, fmt="o", ms=4, capsize=3, label="sampled (±1 s.e.)")
        if exact is not None:
            ex = np.array([e[key] if e else np.nan for e, k in zip(exact, keep, strict=True)
                           if k], float)
            ax.plot(x[keep], ex, "-", color="k", lw=1, label="exact")
        if failed:
            ax.axvline(x[~keep][0], color="r", ls=":", label="refused (singular) member")
        ax.set_xlabel(label)
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{Path(str(doc.get('name', ''))).stem}: {doc.get('param', '?')} scan, "
                 f"{doc.get('points', '?')} points per member")
    return fig


def moduli_matrix_figure(doc: dict) -> Figure:
    """Heat maps of |G_{a bbar}| (log scale) and, when computed, of the normalised Yukawa
    couplings max over c of |kappa_abc| e^K (G_aa G_bb G_cc)^(-1/2) as an a x b map, for a
    ``cygen moduli --json`` document; the declared parameters come first."""
    from matplotlib.colors import LogNorm

    g = np.abs(np.asarray(doc["wp_metric"]["re"]) + 1j * np.asarray(doc["wp_metric"]["im"]))
    lam = doc.get("yukawa_normalised")
    fig = _figure(10.5 if lam is not None else 5.6, 4.8)
    axes = fig.subplots(1, 2 if lam is not None else 1, squeeze=False).ravel()
    floor = max(g.max() * 1e-6, 1e-300)
    im = axes[0].imshow(np.maximum(g, floor), norm=LogNorm(vmin=floor, vmax=g.max()))
    axes[0].set_title("|G_ab̄| (Weil–Petersson)")
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    if lam is not None:
        lam = np.asarray(lam).max(axis=2)
        top = max(lam.max(), 1e-300)
        im = axes[1].imshow(np.maximum(lam, top * 1e-6), norm=LogNorm(vmin=top * 1e-6, vmax=top))
        axes[1].set_title("max_c |κ_abc| e^K (G_aa G_bb G_cc)^(-1/2)")
        fig.colorbar(im, ax=axes[1], shrink=0.8)
    names = doc["params"]
    for ax in axes:
        if len(names) <= 30:
            ax.set_xticks(range(len(names)), [str(i) for i in range(len(names))], fontsize=6)
            ax.set_yticks(range(len(names)), [str(i) for i in range(len(names))], fontsize=6)
        declared = doc.get("declared", 0)
        if 0 < declared < len(names):  # declared parameters | monomial deformations
            ax.axhline(declared - 0.5, color="w", lw=0.8)
            ax.axvline(declared - 0.5, color="w", lw=0.8)
    fig.suptitle(f"{doc.get('name', '')}: {len(names)} directions, {doc.get('points', '?')} "
                 "points")
    return fig
