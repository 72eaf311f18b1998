"""The ``cygen`` command line (typer + rich)."""

from __future__ import annotations

import enum
import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cygen.errors import CygenError

app = typer.Typer(
    help="Compile Calabi-Yau manifolds (.cy) to JAX modules; sample, train and study metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Override a parameter, e.g. --param psi=0.1+0.2i."),
]
AllowOpt = Annotated[
    bool, typer.Option("--allow-non-cy", help="Compile even if c1 != 0 (not Calabi-Yau).")
]
DevicesOpt = Annotated[
    int, typer.Option(help="Shard over this many devices (0: all; docs/scaling.md).")
]


@app.callback()
def _distributed(
    coordinator: Annotated[str | None, typer.Option(
        help="Multi-host: host:port of process 0 (or $CYGEN_COORDINATOR).")] = None,
    num_processes: Annotated[int | None, typer.Option(
        help="Multi-host: number of processes (or $CYGEN_NUM_PROCESSES).")] = None,
    process_id: Annotated[int | None, typer.Option(
        help="Multi-host: this process's rank (or $CYGEN_PROCESS_ID).")] = None,
    cluster: Annotated[bool, typer.Option(
        help="Multi-host: let JAX detect SLURM / Open MPI itself.")] = False,
) -> None:
    """Compile Calabi-Yau manifolds (.cy) to JAX modules; sample, train and study metrics."""
    from cygen.scale import initialize

    initialize(coordinator, num_processes, process_id, auto=cluster)


def guarded(fn):
    """Report :class:`CygenError` as ``file:line:col: error: ...`` and exit with status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CygenError as exc:
            sys.stderr.write(exc.format() + "\n")
            raise typer.Exit(2) from None

    return wrapper


class Emit(enum.StrEnum):
    ast = "ast"
    ir = "ir"
    code = "code"


@app.command("compile")
@guarded
def compile_cmd(
    source: Annotated[Path, typer.Argument(help="The .cy file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the module.")
    ] = None,
    param: ParamOpt = None,
    emit: Annotated[
        Emit | None, typer.Option(help="Print one stage (ast, ir or code) instead of writing.")
    ] = None,
    allow_non_cy: AllowOpt = False,
) -> None:
    """Compile a .cy file into an importable JAX module.

    Examples:

      cygen compile manifolds/fermat_quintic.cy -o quintic.py

      cygen compile manifolds/dwork_quintic.cy --param psi=0.1+0.2i -o dwork.py

      cygen compile manifolds/tian_yau.cy --emit ir
    """
    from cygen.compiler import compile_file
    from cygen.io import atomic_write
    from cygen.ir import describe
    from cygen.syntax import dump

    result = compile_file(source, param, allow_non_cy=allow_non_cy)
    if emit is Emit.ast:
        sys.stdout.write(dump(result.program) + "\n")
        return
    if emit is Emit.ir:
        sys.stdout.write(describe(result.ir) + "\n")
        return
    if emit is Emit.code:
        sys.stdout.write(result.code)
        return
    target = output or Path(f"{source.stem}.py")
    try:
        atomic_write(target, result.code)
    except OSError as exc:
        raise CygenError(f"cannot write {target}: {exc}") from None
    ir = result.ir
    out.print(
        f"wrote [bold]{target}[/]: {ir.name}, dimension {ir.dimension}, "
        f"{len(ir.charts.charts)} charts, chi = {ir.topology.euler}"
    )


def info_dict(result) -> dict:
    """The JSON document printed by ``cygen info --json``."""
    from cygen.topology import volume

    ir = result.ir
    topo = ir.topology
    return {
        "name": ir.name,
        "source": ir.source_name,
        "ambient": [f.dim for f in ir.factors],
        "coordinates": [[str(c) for c in f.coords] for f in ir.factors],
        "dimension": ir.dimension,
        "configuration": [list(r) for r in ir.configuration],
        "params": {k: str(v) for k, v in ir.params},
        "kahler": [str(t) for t in ir.kahler],
        "n_charts": len(ir.charts.charts),
        "euler": topo.euler,
        "intersection_numbers": {
            ",".join(map(str, k)): v for k, v in topo.intersections.items()
        },
        "c2_dot_J": list(topo.c2_dot_J) if topo.c2_dot_J is not None else None,
        "volume": str(volume(topo, ir.kahler)),
        "source_hash": ir.source_hash,
        **_symmetry_info(ir),
    }


def _symmetry_info(ir) -> dict:
    """Symmetry order, generators and patch classes for ``cygen info`` (docs/symmetries.md)."""
    sym = ir.symmetry
    return {
        "symmetry_order": sym.order,
        "symmetry_generators": [{"perm": list(g.perm), "phase": list(g.phase),
                                 "phase_denominator": sym.denominator} for g in sym.generators],
        "n_patch_classes": len(sym.patch_classes),
        "patch_classes": [list(c) for c in sym.patch_classes],
        "n_seed_patch_classes": len(sym.seed_classes),
        "seed_patch_classes": [list(c) for c in sym.seed_classes],
    }


@app.command()
@guarded
def info(
    source: Annotated[Path, typer.Argument(help="The .cy file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    param: ParamOpt = None,
    allow_non_cy: AllowOpt = False,
) -> None:
    """Show a manifold's configuration, charts and topology.

    Examples:

      cygen info manifolds/tian_yau.cy

      cygen info manifolds/fermat_quintic.cy --json
    """
    from cygen.compiler import compile_file

    data = info_dict(compile_file(source, param, allow_non_cy=allow_non_cy))
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    table = Table(title=f"{data['name']}  ({data['source']})", show_header=False)
    table.add_column("", style="bold cyan")
    table.add_column("")
    ambient = " x ".join(
        f"P{n}[{', '.join(c)}]" for n, c in zip(data["ambient"], data["coordinates"], strict=True)
    )
    rows = [
        ("ambient", ambient),
        ("configuration", "\n".join(" ".join(f"{d:2d}" for d in r) for r in data["configuration"])),
        ("dimension", str(data["dimension"])),
        ("parameters", ", ".join(f"{k} = {v}" for k, v in data["params"].items()) or "-"),
        ("Kähler moduli", ", ".join(data["kahler"])),
        ("charts", str(data["n_charts"])),
        ("Euler number", str(data["euler"])),
        ("intersections", ", ".join(f"d[{k}] = {v}" for k, v in
                                    data["intersection_numbers"].items() if v)),
        ("c2 . J", str(data["c2_dot_J"]) if data["c2_dot_J"] is not None else "-"),
        ("volume  ∫J^n/n!", data["volume"]),
        ("symmetry", f"order {data['symmetry_order']}, {len(data['symmetry_generators'])} "
                     "generators (perm; phase x 2πi/N):\n" + "\n".join(
                         f"{g['perm']}; {g['phase']}/{g['phase_denominator']}"
                         for g in data["symmetry_generators"]) if data["symmetry_generators"]
         else "trivial"),
        ("patch classes", f"{data['n_patch_classes']} (sizes "
                          f"{', '.join(str(len(c)) for c in data['patch_classes'])}); "
                          f"seed's pattern view: {data['n_seed_patch_classes']}"),
    ]
    for key, value in rows:
        table.add_row(key, escape(value))
    out.print(table)


@app.command()
@guarded
def sample(
    source: Annotated[Path, typer.Argument(help="A .cy file or a generated module (.py).")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 100_000,
    output: Annotated[Path, typer.Option("-o", "--output", help="The .npz to write.")] = Path(
        "points.npz"
    ),
    seed: Annotated[int, typer.Option(help="Random seed (results are deterministic).")] = 0,
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    devices: DevicesOpt = 1,
) -> None:
    """Sample points on the manifold with exact Monte-Carlo weights.

    Writes an .npz with points, weights, omega_sq, chart and metadata, and prints the
    FS sigma measure and a volume self-test of the measure.

    Examples:

      cygen sample manifolds/fermat_quintic.cy -n 200000 -o quintic.npz

      cygen sample manifolds/tian_yau.cy -n 50000 -o ty.npz --seed 1 --json
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from cygen.compiler import load
    from cygen.dataset import NpzWriter
    from cygen.sampling import draw, metadata
    from cygen.scale import NullWriter, primary

    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    if not source.exists():
        raise CygenError(f"cannot read {source}: no such file")
    module = load(source, param)
    columns = [TextColumn("sampling {task.fields[name]}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn()]
    with (
        Progress(*columns, console=err, disable=not err.is_terminal, transient=True) as bar,
        (NpzWriter if primary() else NullWriter)(output, n, len(module.SPEC["coordinates"]))
        as writer,
    ):
        task = bar.add_task("sample", total=n, name=module.SPEC["name"])
        summary = draw(module, n, seed, writer.write,
                       progress=lambda k: bar.advance(task, k), devices=devices)
        writer.metadata = metadata(module, seed, n) | {"summary": summary}
    summary["output"] = str(output)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    table = Table(title=f"sampled {summary['name']} -> {output}", show_header=False)
    table.add_column("", style="bold cyan")
    table.add_column("")
    sigmas = (summary["volume_fs_mc"] - summary["volume_fs_exact"]) / max(
        summary["volume_fs_err"], 1e-300)
    for key, value in [
        ("points", f"{summary['n']}"),
        ("points/s", f"{summary['points_per_second']:.0f} (JIT compilation included)"),
        ("max residual", f"{summary['max_residual']:.2e}"),
        ("sigma (FS)", f"{summary['sigma_fs']:.4f}"),
        ("volume (FS), MC", f"{summary['volume_fs_mc']:.6g} ± {summary['volume_fs_err']:.2g}"),
        ("volume (FS), exact", f"{summary['volume_fs_exact']:.6g}  ({sigmas:+.1f} s.e.)"),
        ("slices discarded", f"{summary['slices_discarded']}"),
    ]:
        table.add_row(key, value)
    out.print(table)


class ModelName(enum.StrEnum):
    phi = "phi"
    ldl = "ldl"
    add = "add"
    mult = "mult"


def _table(title: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(title=title, show_header=False)
    table.add_column("", style="bold cyan")
    table.add_column("")
    for key, value in rows:
        table.add_row(key, escape(value))
    return table


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@app.command()
@guarded
def train(
    source: Annotated[Path, typer.Argument(help="A .cy file or a generated module (.py).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to create/resume.")],
    points: Annotated[int | None, typer.Option(help="Points to sample (default 100000).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Number of epochs.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop cleanly (checkpointed) after this wall time.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    model: Annotated[ModelName, typer.Option(help="Metric ansatz.")] = ModelName.phi,
    config: Annotated[
        Path | None, typer.Option(help="A run.toml / .json overriding the defaults.")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Use points from `cygen sample`.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    init: Annotated[
        str | None, typer.Option(help="Start from a balanced metric: donaldson:K (phi on top of "
                                    "it, with h trained; ldl/add/mult in its frame).")
    ] = None,
    log_symmetry: Annotated[
        int, typer.Option(help="Log Delta_sym per epoch on this many validation points.")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    devices: DevicesOpt = 1,
) -> None:
    """Compile, sample, train a metric and evaluate it; writes RUN/metrics.json.

    Examples:

      cygen train manifolds/fermat_quintic.cy --out runs/quintic --points 100000 --epochs 30

      cygen train manifolds/tian_yau.cy --out runs/ty --model ldl --max-minutes 10

      cygen train manifolds/fermat_quintic.cy --out runs/quintic --resume --epochs 50

      cygen train manifolds/fermat_quintic.cy --out runs/q3 --init donaldson:3
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from cygen.train import train as run_train

    if config is not None and not resume:  # a bad config fails here, before any sampling
        from cygen.runs import read_config, resolve_config

        try:
            resolve_config(model.value, read_config(config))
        except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
            raise CygenError(f"{config}: {exc}") from None
    columns = [TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
               TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
        task = bar.add_task("training", total=None, info="")

        def progress(event: dict) -> None:
            if event.get("event") == "epoch":
                info = "  ".join(f"{k}={_fmt(v)}" for k, v in event.items()
                                 if k.startswith(("val_", "loss")) and v is not None)
                bar.update(task, total=event.get("epochs"), completed=event.get("epoch", 0),
                           info=info)

        if log_symmetry > 0:  # eval.symmetry_points (docs/symmetries.md)
            from cygen.runs import read_config

            overrides = read_config(config) if config is not None else {}
            overrides["eval"] = {**overrides.get("eval", {}), "symmetry_points": log_symmetry}
            config = overrides
        metrics = run_train(source, out_dir, points=points, epochs=epochs,
                            max_minutes=max_minutes, seed=seed, model=model.value,
                            config=config, data=data, resume=resume, progress=progress,
                            init=init, devices=devices)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        return
    headline = [("sigma before (FS)", _fmt(metrics.get("sigma_fs"))),
                ("sigma after (learned)", _fmt(metrics.get("sigma")))]
    out.print(_table(f"trained {out_dir}", headline + [
        (k, _fmt(v)) for k, v in metrics.items()
        if not isinstance(v, dict | list) and k not in ("sigma", "sigma_fs")]))


@app.command("eval")
@guarded
def eval_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `cygen train`.")],
    points: Annotated[int, typer.Option(help="Fresh points to evaluate on.")] = 10_000,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the run's seed + 1).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a trained metric on fresh points (sigma, Kählerity, transition, volume).

    Examples:

      cygen eval runs/quintic --points 50000

      cygen eval runs/quintic --json
    """
    from cygen.train import evaluate

    if not (run_dir / "config.json").exists():
        raise CygenError(f"{run_dir} is not a run directory (no config.json)")
    metrics = evaluate(run_dir, points=points, seed=seed)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        return
    out.print(_table(f"evaluated {run_dir}", [(k, _fmt(v)) for k, v in metrics.items()
                                               if not isinstance(v, dict | list)]))


def _manifold_or_run(source: Path):
    """A .cy/.py path as is, or the trained run in a directory (its learned metric)."""
    if source.is_dir():
        if not (source / "config.json").exists():
            raise CygenError(f"{source} is not a run directory (no config.json)")
        from cygen.runs import load_run

        return load_run(source)
    if not source.exists():
        raise CygenError(f"cannot read {source}: no such file")
    return source


@app.command()
@guarded
def euler(
    source: Annotated[Path, typer.Argument(help="A .cy file (FS metric) or a run directory.")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    devices: DevicesOpt = 1,
) -> None:
    """The Euler number by integrating the top Chern form of a metric over sampled points.

    Examples:

      cygen euler manifolds/fermat_quintic.cy -n 50000

      cygen euler runs/quintic --json
    """
    from cygen.euler import euler as run_euler

    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    result = run_euler(_manifold_or_run(source), n=n, seed=seed, devices=devices)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    out.print(_table(f"Euler number of {result['name']} ({result['metric']})", [
        ("chi (Monte Carlo)", f"{result['chi_mc']:.3f} ± {result['chi_err']:.3f}"),
        ("chi (topological)", str(result["chi_topological"])),
        ("agreement", f"{result['sigmas']:.2f} standard errors"),
        ("points", str(result["n"])),
        ("points/s", f"{result['points_per_second']:.0f}"),
    ]))


@app.command()
@guarded
def curvature(
    source: Annotated[Path, typer.Argument(help="A .cy file (FS metric) or a run directory.")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Ricci measure, Ricci scalar statistics and integrated Chern forms of a metric.

    Examples:

      cygen curvature manifolds/fermat_quintic.cy -n 20000

      cygen curvature runs/quintic --json
    """
    from cygen.euler import curvature_summary

    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    result = curvature_summary(_manifold_or_run(source), n=n, seed=seed)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
        return
    out.print(_table(f"curvature of {result['name']} ({result['metric']})", [
        (k, _fmt(v)) for k, v in result.items() if not isinstance(v, dict | list)]))


def _enable_compilation_cache() -> None:
    """Persist XLA executables in the cygen cache dir, so repeated commands start fast."""
    import jax

    from cygen.compiler import cache_dir

    try:
        jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except Exception:  # pragma: no cover - an old jax without the option: just slower
        pass


# Commands that live in their own modules (``cygen/cli_*.py``): each defines
# ``register(app)`` (which may import ``guarded``, ``out``... from this module lazily) and is
# registered here, one line each.  (Registration, not import side effects: under
# ``python -m cygen.cli`` this module is ``__main__``, not ``cygen.cli``.)
from cygen import cli_donaldson as _cli_donaldson  # noqa: E402

_cli_donaldson.register(app)
from cygen import cli_plot as _cli_plot  # noqa: E402

_cli_plot.register(app)
from cygen import cli_study as _cli_study  # noqa: E402

_cli_study.register(app)
from cygen import cli_survey as _cli_survey  # noqa: E402

_cli_survey.register(app)
# (end of command modules)


def main() -> None:
    """Console-script entry point."""
    _enable_compilation_cache()
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
