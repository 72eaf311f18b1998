"""The ``cygen`` typer application: the global multi-host options and the command modules.

Each command module defines ``register(app)``; this file registers them, one line each.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from cygen.cli import compile as compile_commands
from cygen.cli import curvature, donaldson, harmonic, moduli, plot, sample, study, survey, train

__all__ = ["app", "main"]

app = typer.Typer(
    help="Compile Calabi-Yau manifolds (.cy) to JAX modules; sample, train and study metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: `cygen --help` does not load rich's markdown
)

MULTI_HOST_ENV = ("CYGEN_COORDINATOR", "CYGEN_NUM_PROCESSES", "CYGEN_PROCESS_ID")


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
    asked = (coordinator, num_processes, process_id) != (None, None, None) or cluster
    if asked or any(os.environ.get(k) for k in MULTI_HOST_ENV):  # jax only when needed
        from cygen.geometry.scale import initialize

        initialize(coordinator, num_processes, process_id, auto=cluster)


for _commands in (compile_commands, sample, train, curvature, donaldson, moduli, harmonic, plot,
                  study, survey):
    _commands.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
