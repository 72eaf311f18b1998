"""``cygen report RUN``: one self-contained HTML page about a trained run.

The page holds the run's settings (``config.json``), its final metrics (``metrics.json``),
the topological checks (χ by integrating the Euler density of the learned metric and of
Fubini–Study, :func:`cygen.euler.euler`; the volume ∫J^n/n! with the dataset's Monte-Carlo
weights against the exact volume of the Kähler class) and every figure of
:mod:`cygen.plots`, embedded as ``data:image/png;base64`` URIs: the file opens offline and
can be mailed alone.  All numbers are computed here; the template
(``cygen/evaluate/templates/report.html.j2``) only lays them out, with autoescaping on.
"""

from __future__ import annotations

import base64
import datetime as _dt
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cygen.core.io import atomic_write
from cygen.core.templates import environment
from cygen.core.version import __version__
from cygen.evaluate import plots
from cygen.evaluate.integrals import euler
from cygen.learn.runs import load_run
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

TEMPLATE = "report.html.j2"
TEMPLATES = Path(__file__).resolve().parent / "templates"
TOLERANCE = 0.02  # a check agrees within max(2 %, 3 standard errors)


@dataclass(frozen=True)
class Check:
    """One row of the topological checks."""

    name: str
    measured: str
    expected: str
    agrees: bool
    note: str


@dataclass(frozen=True)
class FigureItem:
    """An embedded figure: ``src`` is a ``data:image/png;base64,...`` URI."""

    anchor: str
    title: str
    caption: str
    src: str


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested dicts as (dotted key, value text) rows, sorted by key."""
    rows: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        for key in sorted(obj):
            rows += flatten(obj[key], f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, fmt(obj))]


def fmt(value: Any) -> str:
    """Numbers to 6 significant digits, lists comma-joined, None as "–"."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v) for v in value)
    return str(value)


def _agrees(value: float, err: float, exact: float) -> tuple[bool, float]:
    diff = abs(value - exact)
    return bool(diff <= max(TOLERANCE * abs(exact), 3 * err)), (diff / err if err > 0 else 0.0)


def chi_check(result: dict, label: str) -> Check:
    """A row from :func:`cygen.euler.euler`'s result."""
    return Check(
        f"χ ({label})",
        f"{result['chi_mc']:.3f} ± {result['chi_err']:.3f}",
        str(result["chi_topological"]),
        bool(result["agrees"]),
        f"{result['sigmas']:.2f} standard errors; {result['n']} fresh points; "
        f"route {result['route']}",
    )


def volume_check(inv_rho: np.ndarray, det_g: np.ndarray, exact: float, label: str) -> Check:
    """∫ J^n/n! = E[det g / ρ] = mean(w det g / |Ω|²) against the exact class volume."""
    x = inv_rho * det_g
    x = x[np.isfinite(x)]
    mean, err = float(np.mean(x)), float(np.std(x) / math.sqrt(max(len(x), 1)))
    ok, sig = _agrees(mean, err, exact)
    where = f"{len(x)} validation points, dataset weights"
    if abs(mean - exact) <= 1e-9 * abs(exact):  # FS on a hypersurface in one P^n: exact
        return Check(f"volume ∫Jⁿ/n! ({label})", f"{mean:.6g}", f"{exact:.6g}", True,
                     f"equal to rounding (the estimator is exact point by point); {where}")
    return Check(f"volume ∫Jⁿ/n! ({label})", f"{mean:.5g} ± {err:.2g}", f"{exact:.6g}", ok,
                 f"{sig:.2f} standard errors; {where}")


def build(run_dir: str | os.PathLike, *, n: int = 2000, euler_points: int = 10_000,
          seed: int | None = None) -> dict[str, Any]:
    """Everything the report shows, computed: the template's context.

    ``n`` validation points of the run feed the η and curvature figures and the volume
    check; χ is integrated on ``euler_points`` fresh points (the run seed's ``report``
    stream, :mod:`cygen.core.seeds`).
    """
    run = load_run(run_dir)
    spec = run.module.SPEC
    cfg = run.config
    metrics = run.metrics or {}
    dim = int(spec["dimension"])
    seed = int(cfg.get("seed", 0)) if seed is None else int(seed)

    ds = plots.run_points(run, n)
    eta = plots.eta_data(run, data=ds)
    curv = plots.curvature_data(run, data=ds)
    fresh = sample(run.module, euler_points, seed, purpose="report")
    chi_run = euler(run, data=fresh)
    chi_fs = euler(run.module, data=fresh)
    exact = float(spec["volume"])
    checks = [
        chi_check(chi_run, "learned metric"),
        chi_check(chi_fs, "Fubini–Study"),
        volume_check(curv.inv_rho, curv.det_g, exact, "learned metric"),
        volume_check(curv.inv_rho, curv.det_fs, exact, "Fubini–Study"),
    ]

    data_path = Path(cfg.get("data") or "data.npz")
    data_path = data_path if data_path.is_absolute() else Path(run.path) / data_path
    points = Dataset.load(data_path) if data_path.exists() else fresh
    names = list(spec["coordinates"])
    items = [
        ("points", "Points (the “barefoot” figure)",
         f"log-density of the run's {len(points)} points in the z1/max plane"
         + ("; colours: the charts (patch regions)" if dim == 1 else ""),
         plots.points_figure(points.points, points.chart, coord=1, dimension=dim,
                             names=names)),
        ("training", "Training", "loss terms per epoch: training mean (solid) and float64 "
         "validation (dashed), log scale",
         plots.training_figure(plots.read_log(run.path), metrics,
                               powers=cfg.get("loss_power"))),
        ("eta", "η = det g / |Ω|²", f"η/η̄ of Fubini–Study and of the learned metric on "
         f"{len(ds)} validation points; σ per chart and per patch class",
         plots.eta_figure(eta)),
        ("curvature", "Curvature", "Ricci scalar distribution and the Euler density against "
         "|z|-based coordinates (FS and learned)",
         plots.curvature_figure(curv)),
    ]
    figures = [FigureItem(a, t, c, data_uri(plots.png_bytes(f))) for a, t, c, f in items]
    headline = [
        ("manifold", f"{spec['name']} (dimension {dim}, χ = {spec['euler']}, "
                     f"{len(spec['charts'])} charts)"),
        ("model", str(cfg.get("model", {}).get("name", "?"))),
        ("status", fmt(metrics.get("status"))),
        ("σ before (Fubini–Study)", fmt(metrics.get("sigma_fs"))),
        ("σ after (learned)", fmt(metrics.get("sigma"))),
        ("epochs", fmt(metrics.get("epochs"))),
    ]
    return {
        "title": f"cygen run report: {spec['name']}",
        "run": str(Path(run.path).resolve()),
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": __version__,
        "headline": headline,
        "checks": checks,
        "metrics": flatten(metrics),
        "settings": flatten(cfg),
        "figures": figures,
    }


def render(context: dict[str, Any]) -> str:
    """The HTML page of a :func:`build` context (the project's one jinja2 environment,
    :func:`cygen.core.templates.environment`, which autoescapes ``*.html.j2``)."""
    return environment(TEMPLATES).get_template(TEMPLATE).render(**context)


def write_report(run_dir: str | os.PathLike, output: str | os.PathLike, *, n: int = 2000,
                 euler_points: int = 10_000, seed: int | None = None) -> Path:
    """Build, render and atomically write the report of ``run_dir`` to ``output``."""
    html = render(build(run_dir, n=n, euler_points=euler_points, seed=seed))
    return atomic_write(output, html)


__all__ = ["Check", "FigureItem", "build", "data_uri", "flatten", "render", "write_report"]
