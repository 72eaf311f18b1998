"""``cygen train`` and ``cygen eval``: learn a metric, and evaluate it on fresh points."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import DevicesOpt, enable_jax_cache, fmt, guarded, out, say, table
from cygen.core.errors import CygenError

__all__ = ["register"]


class ModelName(enum.StrEnum):
    phi = "phi"
    ldl = "ldl"
    add = "add"
    mult = "mult"


class Method(enum.StrEnum):
    loss = "loss"
    flow = "flow"


def train(
    source: Annotated[Path, typer.Argument(help="A .cy file or a generated module (.py).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Run directory to create/resume.")],
    points: Annotated[int | None, typer.Option(help="Points to sample (default 100000).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Number of epochs.")] = None,
    max_minutes: Annotated[
        float | None, typer.Option(help="Stop cleanly (checkpointed) after this wall time.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    model: Annotated[ModelName, typer.Option(help="Metric ansatz.")] = ModelName.phi,
    config: Annotated[
        Path | None, typer.Option(help="A run.toml / .json overriding the defaults.")
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Use points from `cygen sample`.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option(
        help="Replace the run already in --out (refused otherwise).")] = False,
    init: Annotated[
        str | None, typer.Option(help="Start from a balanced metric: donaldson:K (phi on top of "
                                    "it, with h trained; ldl/add/mult in its frame).")
    ] = None,
    log_symmetry: Annotated[
        int, typer.Option(help="Log Delta_sym per epoch on this many validation points.")
    ] = 0,
    method: Annotated[Method, typer.Option(
        help="loss: minimise the config's loss terms; flow: follow the Kähler–Ricci flow "
             "(phi only; sets loss.flow = 1, loss.sigma = 0 unless the config sets them; "
             "step: config section flow).")] = Method.loss,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
    devices: DevicesOpt = 1,
) -> None:
    """Compile, sample, train a metric and evaluate it; writes RUN/metrics.json.

    The loss terms are weighted in the config's [loss] table: sigma, kahler, transition,
    volume, ricci, dirichlet (the dilaton's Dirichlet energy), perelman (Perelman's F; not
    for phi), flow (set by --method flow; step in [flow]: dt, fit_epochs); model.ramp_epochs
    scales the network's part from the Kähler start (the seed's lambda schedule).
    docs/training.md has each one.

    Examples:

    \b
      cygen train manifolds/fermat_quintic.cy --out runs/quintic --points 100000 --epochs 30
      cygen train manifolds/tian_yau.cy --out runs/ty --model ldl --max-minutes 10
      cygen train manifolds/fermat_quintic.cy --out runs/quintic --resume --epochs 50
      cygen train manifolds/fermat_quintic.cy --out runs/q3 --init donaldson:3
      cygen train manifolds/k3_quartic.cy --out runs/k3flow --method flow
    """
    from cygen.learn.config import read_config, resolve_config

    if resume and (config is not None or data is not None or init is not None):
        raise CygenError("--resume continues a run with its own config, data and init: "
                         "drop --config, --data and --init")
    overrides = None
    if config is not None:  # a bad config fails here, before any sampling
        overrides = read_config(config)
        resolve_config(model.value, overrides, source=str(config))
    if log_symmetry > 0:  # eval.symmetry_points (docs/symmetries.md)
        overrides = dict(overrides or {})
        overrides["eval"] = {**overrides.get("eval", {}), "symmetry_points": log_symmetry}
    if method is Method.flow and not resume:  # the flow's regression (docs/training.md)
        overrides = dict(overrides or {})
        overrides["loss"] = {"sigma": 0.0, "flow": 1.0, **overrides.get("loss", {})}
        resolve_config(model.value, overrides, source=str(config) if config else None)
    enable_jax_cache()
    from cygen.core.progress import Progress
    from cygen.learn.trainer import progress_callback
    from cygen.learn.trainer import train as run_train

    with Progress(transient=False) as bar:
        metrics = run_train(source, out_dir, points=points, epochs=epochs,
                            max_minutes=max_minutes, seed=seed, model=model.value,
                            config=overrides if overrides is not None else config,
                            data=data, resume=resume, progress=progress_callback(bar),
                            init=init, devices=devices, overwrite=overwrite)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
    else:
        _print_metrics(out_dir, metrics)
    if metrics.get("status") == "non_finite":  # a failed run exits non-zero
        say(f"error: {out_dir}: {metrics.get('message')}")
        raise typer.Exit(1)


def _print_metrics(out_dir: Path, metrics: dict) -> None:
    headline = [("sigma before (FS)", fmt(metrics.get("sigma_fs"))),
                ("sigma after (learned)", fmt(metrics.get("sigma")))]
    out.print(table(f"trained {out_dir}", headline + [
        (k, fmt(v)) for k, v in metrics.items()
        if not isinstance(v, dict | list) and k not in ("sigma", "sigma_fs")]))


def eval_cmd(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `cygen train`.")],
    points: Annotated[int, typer.Option(help="Fresh points to evaluate on.")] = 10_000,
    seed: Annotated[int | None, typer.Option(
        help="Seed of the evaluation points (default: the run's; its own stream).", min=0)
    ] = None,
    data: Annotated[Path | None, typer.Option(
        help="Evaluate on these points (`cygen sample`, the run's manifold) instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a trained metric on fresh points (sigma, Kählerity, transition, volume).

    Points of another manifold, or points the run was trained on, are refused.

    Examples:

    \b
      cygen eval runs/quintic --points 50000
      cygen eval runs/quintic --data test_points.npz --json
    """
    enable_jax_cache()
    from cygen.evaluate.runs import evaluate_run

    metrics = evaluate_run(run_dir, points=points, seed=seed, data=data)
    if not metrics.get("overlap_checked"):
        say(f"warning: {run_dir}: its training points are gone; could not check that "
            "the evaluation points are new to it")
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        return
    out.print(table(f"evaluated {run_dir}", [(k, fmt(v)) for k, v in metrics.items()
                                            if not isinstance(v, dict | list)]))


def register(app: typer.Typer) -> None:
    """Add ``train`` and ``eval`` to ``app``."""
    app.command("train")(guarded(train))
    app.command("eval")(guarded(eval_cmd))
