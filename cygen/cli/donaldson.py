"""``cygen donaldson X.cy --k 1..6``: Donaldson's balanced metrics, the table k -> sigma.

Registered by :mod:`cygen.cli.app` (``register(app)``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import enable_jax_cache, guarded, out
from cygen.core.errors import CygenError


def parse_ks(text: str) -> list[int]:
    """``"1..6"``, ``"3"`` or ``"2,4,6"`` -> a list of degrees (each >= 1)."""
    ks: list[int] = []
    try:
        for part in text.replace(" ", "").split(","):
            lo, sep, hi = part.partition("..")
            ks += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
    except ValueError:
        raise CygenError(f"bad --k {text!r}: expected e.g. 3, 1..6 or 2,4") from None
    if not ks or min(ks) < 1:
        raise CygenError(f"bad --k {text!r}: degrees must be >= 1")
    return ks


def register(app: typer.Typer) -> None:
    """Add the ``donaldson`` command to ``app``."""
    @app.command()
    @guarded
    def donaldson(
        source: Annotated[Path, typer.Argument(help="The .cy file (or a generated module).")],
        k: Annotated[str, typer.Option("--k", help="Degrees: 3, 1..6 or 2,4.")] = "1..3",
        points: Annotated[int | None, typer.Option(
            help="T-operator points (default 5 n_k^2 + 20000).")] = None,
        eval_points: Annotated[int, typer.Option(help="Fresh points for sigma.")] = 20_000,
        ricci_points: Annotated[int, typer.Option(
            help="Points for the Ricci measure (0: skip).")] = 1_000,
        seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
        iterations: Annotated[int, typer.Option(help="Maximum T-iterations.")] = 50,
        tol: Annotated[float, typer.Option(help="Stop at this relative change of h.")] = 1e-5,
        out_dir: Annotated[Path | None, typer.Option(
            "--out", help="Save each metric as a run directory OUT/k<K> (load_run).")] = None,
        overwrite: Annotated[bool, typer.Option(
            help="Replace runs already in --out (refused otherwise).")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Donaldson's balanced metrics: sigma (and the Ricci measure) for each degree k.

        Examples:

        \b
          cygen donaldson manifolds/fermat_quintic.cy --k 1..6
          cygen donaldson manifolds/tian_yau.cy --k 2 --points 50000 --json
          cygen donaldson manifolds/k3_quartic.cy --k 3 --out runs/k3_balanced
        """
        enable_jax_cache()
        from cygen.core.progress import Progress
        from cygen.evaluate.donaldson import table
        from cygen.learn.donaldson import progress_callback

        ks = parse_ks(k)
        if not source.exists():
            raise CygenError(f"cannot read {source}: no such file")
        if eval_points <= 0 or (points is not None and points <= 0) or ricci_points < 0:
            raise CygenError("--points and --eval-points must be positive")
        with Progress(transient=False) as bar:
            rows = table(source, ks, points=points, eval_points=eval_points,
                         ricci_points=ricci_points, seed=seed, max_iterations=iterations,
                         tol=tol, progress=progress_callback(bar), out_dir=out_dir,
                         overwrite=overwrite)
        if as_json:
            sys.stdout.write(json.dumps({"source": str(source), "rows": rows}, indent=2) + "\n")
            return
        _print_table(source, rows)


def _print_table(source: Path, rows: list[dict]) -> None:
    from rich.table import Table

    table = Table(title=f"Donaldson's balanced metrics on {source}")
    for col in ("k", "sections", "points", "iterations", "s/iteration", "sigma",
                "Ricci measure"):
        table.add_column(col, justify="right")
    for r in rows:
        ricci = r.get("ricci_measure")
        table.add_row(str(r["k"]), str(r["n_sections"]), str(r["points"]),
                      f"{r['iterations']}{'' if r['converged'] else ' (not converged)'}",
                      f"{r['seconds_per_iteration']:.3f}", f"{r['sigma']:.4f}",
                      "-" if ricci is None else f"{ricci:.4f}")
    out.print(table)
