"""What the studies share: manifolds, run logs, eta of a run on fresh points, figures, JSON."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cygen.core.io import atomic_write, jsonable
from cygen.geometry import runtime as rt
from cygen.geometry.local import Local
from cygen.learn import losses, models
from cygen.learn.data import run_dataset, split
from cygen.learn.runs import load_run
from cygen.learn.symmetry_measure import model_delta_sym
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

ROOT = Path(__file__).resolve().parents[2]


def manifold(name: str) -> Path:
    """A shipped manifold file: in the wheel (cygen/manifolds), the source tree's manifolds/,
    or the current directory's."""
    from importlib import resources

    packaged = Path(str(resources.files("cygen").joinpath("manifolds")))
    for base in (packaged, ROOT / "manifolds", Path("manifolds")):
        if (base / f"{name}.cy").exists():
            return base / f"{name}.cy"
    raise FileNotFoundError(f"manifolds/{name}.cy not found")


def points_file(module, path: Path, n: int, seed: int) -> Path:
    """``path``: ``n`` points sampled with ``seed``, written once (reused when it exists)."""
    if not path.exists():
        sample(module, n, seed=seed, purpose="study").save(path)
    return path


def samples(module, out: Path, points: int, eval_points: int,
            prefix: str = "") -> tuple[Path, Path]:
    """(training, evaluation) point files in ``out`` (seeds 0 and 1), sampled once."""
    return (points_file(module, out / f"{prefix}data.npz", points, 0),
            points_file(module, out / f"{prefix}eval.npz", eval_points, 1))


def conformal_baseline(module, data: Dataset) -> dict[str, float]:
    """sigma, kappa, mu of g = (|Omega|^2 / det g_FS)^(1/n) g_FS: exactly sigma = mu = 0, so
    it pays only in kappa.  A non-Kähler run whose (sigma, kappa) lies on the line from FS to
    this metric has learned a rescaling of FS, not the Ricci-flat metric."""
    geo = module.GEOMETRY
    dim = int(geo.free.shape[1])

    def inputs(loc: Local):
        ratio = rt.omega_sq(geo, loc.zc, loc.chart) / jnp.real(rt.det(loc.g_fs))
        return ratio ** (1.0 / dim) * loc.g_fs

    net = models.Model("conformal", dim, lambda key: {}, inputs, lambda p, g: g, False)
    terms = ("kahler", "transition")
    pts = losses.prepare(net, geo, terms, data)
    stats = jax.jit(jax.vmap(lambda pt: losses.point_stats(net, geo, terms, {}, pt)))(pts)
    out = losses.summarize(jax.tree.map(np.asarray, stats), data.weights, module.SPEC)
    return {k: out[k] for k in ("sigma", "kahler", "transition")}


def curves(run_dir: Path) -> dict[str, list]:
    """Per-epoch validation curves of a run: ``epoch``, ``wall_s`` and every val term."""
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines() if x]
    out: dict[str, list] = {"epoch": [r["epoch"] for r in rows],
                            "wall_s": [round(r["wall_s"], 2) for r in rows]}
    for key in rows[0]["val"] if rows else ():
        if isinstance(rows[0]["val"][key], int | float):
            out[key] = [r["val"].get(key) for r in rows]
    return out


def eta(metric_in, geo: rt.Geometry, points: np.ndarray, charts: np.ndarray,
        omega_sq: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """eta = det g / |Omega|^2 of a metric ``(z, chart) -> g`` at sampled points (float64)."""
    fn = jax.jit(jax.vmap(lambda z, c: jnp.real(rt.det(metric_in(z, c)))))
    dets = [np.asarray(fn(jnp.asarray(points[i : i + chunk]), jnp.asarray(charts[i : i + chunk])))
            for i in range(0, len(points), chunk)]
    return np.concatenate(dets) / omega_sq


def deviation(weights: np.ndarray, eta_values: np.ndarray) -> dict[str, float]:
    """|eta/eta_bar - 1| pointwise: weighted mean (= sigma), median, 99th percentile, max."""
    dev = np.abs(eta_values / (np.sum(weights * eta_values) / np.sum(weights)) - 1)
    return {"sigma": float(np.sum(weights * dev) / np.sum(weights)),
            "median": float(np.median(dev)), "p99": float(np.quantile(dev, 0.99)),
            "max": float(np.max(dev))}


def figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.0, 3.6)):
    """A matplotlib Figure (no pyplot, no global state) and its axes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def save_figure(fig, path: Path) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write(path, buf.getvalue())
    return path.name


def plot_curves(ax, data: dict[str, list], keys: list[str], title: str,
                labels: dict[str, str] | None = None) -> None:
    labels = labels or {}
    for key in keys:
        ys = data.get(key)
        if ys and any(y is not None and y > 0 for y in ys):
            ax.plot(data["epoch"], ys, marker="o", ms=3, label=labels.get(key, key))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()


def write_result(out: Path, name: str, result: dict[str, Any], started: float) -> dict:
    result = {"study": name, **result, "wall_s": round(time.monotonic() - started, 1)}
    atomic_write(out / f"{name}.json", json.dumps(jsonable(result), indent=1) + "\n")
    return result


def decreasing(values: list[float], start: int = 0) -> bool:
    """Whether the curve ends below where it starts (from index ``start``)."""
    vals = [v for v in values[start:] if v is not None]
    return len(vals) >= 2 and vals[-1] < vals[0]


def log_values(run_dir: Path, key: str) -> list:
    """A top-level per-epoch entry of a run's log.jsonl (e.g. ``delta_sym``; None if absent)."""
    rows = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines() if x]
    return [r.get(key) for r in rows if "phase" not in r]


def checkpoint_delta_sym(run_dir: Path, n_points: int, n_elements: int = 8) -> float:
    """Delta_sym of a run's current checkpoint on the trainer's own symmetry points (the first
    ``n_points`` validation points), with the trainer's group elements: called from a
    ``progress`` callback at the ``start`` event it gives the epoch-0 value of the curve."""
    run = load_run(run_dir)
    cfg = run.config
    points = run_dataset(Path(run_dir), cfg).points
    _, val_idx = split(len(points), int(cfg["seed"]), float(cfg["val_fraction"]))
    fn = model_delta_sym(run.model, run.module, points[val_idx][:n_points], n_elements,
                         int(cfg["seed"]))
    return fn(run.params)


def with_start_delta_sym(run_dir: Path, n_points: int, start: list, progress=None):
    """A ``progress`` callback for :func:`cygen.train.train` that forwards every event and, at
    ``start`` (the initialisation is checkpointed by then), appends its Delta_sym to ``start``."""
    def callback(event: dict) -> None:
        if event.get("event") == "start":
            start.append(checkpoint_delta_sym(run_dir, n_points))
        if progress is not None:
            progress(event)

    return callback
