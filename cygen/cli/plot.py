"""``cygen plot points|training|eta|curvature|moduli`` and ``cygen report``.

Registered by :mod:`cygen.cli.app` through :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import guarded, out
from cygen.core.errors import CygenError

RunArg = Annotated[Path, typer.Argument(help="A run directory from `cygen train`.")]


def _output(default: str):
    return typer.Option("-o", "--output", help=f"The PNG to write (default {default}).")


def _say(message: str) -> None:
    out.print(message)


def _run(run_dir: Path):
    from cygen.learn.runs import load_run

    if not (run_dir / "config.json").exists():
        raise CygenError(f"{run_dir} is not a run directory (no config.json)")
    return load_run(run_dir)


def _positive(n: int, name: str = "-n") -> None:
    if n <= 0:
        raise CygenError(f"{name} must be positive, got {n}")


def _save(fig, output: Path) -> None:
    from cygen.evaluate import plots

    try:
        plots.save(fig, output)
    except OSError as exc:
        raise CygenError(f"cannot write {output}: {exc}") from None
    _say(f"wrote [bold]{output}[/]")


def points(
    source: Annotated[Path, typer.Argument(help="An .npz from `cygen sample`, or a run.")],
    output: Annotated[Path, _output("points.png")] = Path("points.png"),
    coord: Annotated[int, typer.Option("--coord", "-i", help="The coordinate z_i plotted.")] = 1,
    over: Annotated[
        int | None,
        typer.Option("--over", "-j", help="Plot z_i/z_j on the z_j patch (default: z_i over "
                                          "the largest coordinate, on every point)."),
    ] = None,
    weighted: Annotated[
        bool, typer.Option(help="Weight by the Monte-Carlo weights (the |Ω|² volume form).")
    ] = False,
    bins: Annotated[int | None, typer.Option(help="Histogram bins per axis.")] = None,
) -> None:
    """Log-density of points in a coordinate plane (the "barefoot" figure).

    For curves also the points coloured by chart (the patch regions).

    Examples:

    \b
      cygen plot points quintic.npz -o barefoot.png
      cygen plot points quintic.npz -o barefoot.png --coord 2 --over 0 --weighted
      cygen plot points runs/torus -o torus_points.png
    """
    import json

    from cygen.evaluate import plots
    from cygen.sampling.dataset import Dataset

    path = source
    if source.is_dir():
        cfg_path = source / "config.json"
        if not cfg_path.exists():
            raise CygenError(f"{source} is not a run directory (no config.json)")
        data = Path(json.loads(cfg_path.read_text(encoding="utf-8")).get("data") or "data.npz")
        path = data if data.is_absolute() else source / data
    if not path.exists():
        raise CygenError(f"cannot read {path}: no such file")
    if bins is not None:
        _positive(bins, "--bins")
    ds = Dataset.load(path)
    meta = ds.metadata or {}
    names = None
    if source.is_dir():
        spec = _run(source).module.SPEC
        dimension, names = int(spec["dimension"]), list(spec["coordinates"])
    else:
        dimension = dimension_of(meta, ds.points.shape[1])
    try:
        fig = plots.points_figure(ds.points, ds.chart, ds.weights if weighted else None,
                                  coord=coord, over=over, dimension=dimension,
                                  names=names, bins=bins,
                                  title=f"{meta.get('name', path.stem)}: points")
    except ValueError as exc:
        raise CygenError(str(exc)) from None
    _save(fig, output)


def dimension_of(meta: dict, n_coords: int) -> int:
    """The complex dimension of the sampled manifold from a dataset's metadata: coordinates
    minus factors (the Kähler moduli) minus equations (the codimensions of a slice type).
    3 when the metadata does not say."""
    try:
        factors = len(meta["kahler"])
        equations = sum(int(t) for t in meta["slices"][0]["t"])
        return int(n_coords - factors - equations)
    except (KeyError, IndexError, TypeError, ValueError):
        return 3


def training(run_dir: RunArg,
             output: Annotated[Path, _output("training.png")] = Path("training.png")) -> None:
    """Loss curves (σ, κ, μ, Ricci, volume), training and validation, on a log scale.

    Example:

      cygen plot training runs/quintic -o training.png
    """
    import json

    from cygen.evaluate import plots

    if not (run_dir / "log.jsonl").exists():
        raise CygenError(f"{run_dir} has no log.jsonl (not a run directory?)")
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    config_path = run_dir / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    _save(plots.training_figure(plots.read_log(run_dir), metrics,
                                powers=config.get("loss_power")), output)


def eta(run_dir: RunArg, output: Annotated[Path, _output("eta.png")] = Path("eta.png"),
        n: Annotated[int, typer.Option("-n", "--points", help="Validation points.")] = 5000
        ) -> None:
    """Histogram of η/η̄ for Fubini–Study and the learned metric; σ per chart and class.

    η = det g/|Ω|², on the run's validation points.

    Example:

      cygen plot eta runs/quintic -o eta.png
    """
    from cygen.evaluate import plots

    _positive(n)
    _save(plots.eta_figure(plots.eta_data(_run(run_dir), n)), output)


def curvature(run_dir: RunArg,
              output: Annotated[Path, _output("curvature.png")] = Path("curvature.png"),
              n: Annotated[int, typer.Option("-n", "--points", help="Validation points.")] = 2000
              ) -> None:
    """Ricci scalar distribution and Euler density against |z| (FS and learned).

    Example:

      cygen plot curvature runs/quintic -o curvature.png -n 2000
    """
    from cygen.evaluate import plots

    _positive(n)
    _save(plots.curvature_figure(plots.curvature_data(_run(run_dir), n)), output)


def moduli(
    result: Annotated[Path, typer.Argument(help="JSON written by `cygen moduli --out` (a "
                                                "--scan, or one member).")],
    output: Annotated[Path, _output("moduli.png")] = Path("moduli.png"),
    exact: Annotated[str | None, typer.Option(
        help="Overlay exact values along a scan: 'dwork' (the Dwork pencil's periods).")] = None,
) -> None:
    """G and λ along a `cygen moduli --scan`, or heat maps of |G| and of the normalised
    Yukawa couplings of one member.

    Example:

      cygen moduli manifolds/dwork_quintic.cy --scan psi=0..0.95 --steps 8 --out scan.json
      cygen plot moduli scan.json --exact dwork -o scan.png
    """
    from cygen.core.io import read_json
    from cygen.evaluate import plots

    doc = read_json(result)
    if "rows" in doc:
        table = None
        if exact == "dwork":
            from cygen.evaluate.periods import dwork_exact

            table = [dwork_exact(complex(*r["value"])) if abs(complex(*r["value"])) < 1
                     else None for r in doc["rows"]]
        elif exact is not None:
            raise CygenError(f"--exact: unknown reference {exact!r} (known: dwork)")
        fig = plots.moduli_scan_figure(doc, table)
    elif "wp_metric" in doc:
        if exact is not None:
            raise CygenError("--exact applies to a --scan result")
        fig = plots.moduli_matrix_figure(doc)
    else:
        raise CygenError(f"{result}: not a `cygen moduli` result (no 'rows' or 'wp_metric')")
    _save(fig, output)


def report(
    run_dir: RunArg,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write.")] = Path(
        "report.html"),
    n: Annotated[int, typer.Option("-n", "--points", help="Validation points for the η and "
                                                          "curvature figures.")] = 2000,
    euler_points: Annotated[int, typer.Option(help="Fresh points for χ.")] = 10_000,
) -> None:
    """A self-contained HTML report of a run: figures, settings, metrics, χ and volume.

    Every figure is embedded (data URIs): the page opens offline.

    Example:

      cygen report runs/quintic -o report.html
    """
    from cygen.evaluate.report import write_report

    _positive(n)
    _positive(euler_points, "--euler-points")
    _run(run_dir)
    try:
        write_report(run_dir, output, n=n, euler_points=euler_points)
    except OSError as exc:
        raise CygenError(f"cannot write {output}: {exc}") from None
    _say(f"wrote [bold]{output}[/]")


def register(app: typer.Typer) -> None:
    """Add ``plot`` (points, training, eta, curvature, moduli) and ``report`` to the main app."""
    plot = typer.Typer(help="Figures (PNG) of points and trained runs.", no_args_is_help=True)
    plot.command("points")(guarded(points))
    plot.command("training")(guarded(training))
    plot.command("eta")(guarded(eta))
    plot.command("curvature")(guarded(curvature))
    plot.command("moduli")(guarded(moduli))
    app.add_typer(plot, name="plot")
    app.command("report")(guarded(report))
