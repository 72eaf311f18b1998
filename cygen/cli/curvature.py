"""``cygen euler`` and ``cygen curvature``: χ and curvature of FS or of a trained metric."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import DevicesOpt, enable_jax_cache, fmt, guarded, out, say, table
from cygen.core.errors import CygenError

__all__ = ["register"]


def euler(
    source: Annotated[Path, typer.Argument(help="A .cy file (FS metric) or a run directory.")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    devices: DevicesOpt = 1,
) -> None:
    """The Euler number by integrating the top Chern form of a metric over sampled points.

    Examples:

    \b
      cygen euler manifolds/fermat_quintic.cy -n 50000
      cygen euler runs/quintic --json
    """
    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    enable_jax_cache()
    from cygen.evaluate.integrals import euler as run_euler

    result = run_euler(source, n=n, seed=seed, devices=devices)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _print_euler(result)
    _check_dropped(source, result)


def _print_euler(result: dict) -> None:
    out.print(table(f"Euler number of {result['name']} ({result['metric']})", [
        ("chi (Monte Carlo)", f"{result['chi_mc']:.3f} ± {result['chi_err']:.3f}"),
        ("chi (topological)", str(result["chi_topological"])),
        ("agreement", f"{result['sigmas']:.2f} standard errors"),
        ("route", result["route"]),
        ("points", str(result["n"])),
        ("dropped (non-finite)", str(result["nonfinite"])),
        ("points/s", f"{result['points_per_second']:.0f}"),
    ]))


def _check_dropped(source: Path, result: dict) -> None:
    """Say how many points were dropped as non-finite; more than the tolerated fraction
    (:data:`cygen.evaluate.integrals.NONFINITE_TOLERANCE`) fails the command (exit 1)."""
    if result["nonfinite"]:
        say(f"warning: {source}: {result['nonfinite']} of {result['n']} points dropped "
            "(non-finite integrand)")
    if not result["nonfinite_ok"]:
        say(f"error: {source}: {result['nonfinite_fraction']:.2%} of the points are "
            "non-finite, more than the 0.1% tolerated: the metric is broken")
        raise typer.Exit(1)


def curvature(
    source: Annotated[Path, typer.Argument(help="A .cy file (FS metric) or a run directory.")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ricci measure, Ricci scalar statistics and integrated Chern forms of a metric.

    Examples:

    \b
      cygen curvature manifolds/fermat_quintic.cy -n 20000
      cygen curvature runs/quintic --json
    """
    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    enable_jax_cache()
    from cygen.evaluate.integrals import curvature_summary

    result = curvature_summary(source, n=n, seed=seed)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        out.print(table(f"curvature of {result['name']} ({result['metric']})", [
            (k, fmt(v)) for k, v in result.items() if not isinstance(v, dict | list)]))
    _check_dropped(source, result)


def register(app: typer.Typer) -> None:
    """Add ``euler`` and ``curvature`` to ``app``."""
    app.command("euler")(guarded(euler))
    app.command("curvature")(guarded(curvature))
