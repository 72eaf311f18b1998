"""What every command shares: the consoles, the error guard, common options, table helpers.

Imports only typer and rich at module level, so ``cygen --help`` starts fast; a command
imports the layer it drives when it runs.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cygen.core.errors import CygenError

__all__ = ["AllowOpt", "DevicesOpt", "ParamOpt", "enable_jax_cache", "err", "fmt", "guarded",
           "out", "table"]

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


def table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A two-column key/value table."""
    result = Table(title=title, show_header=False)
    result.add_column("", style="bold cyan")
    result.add_column("")
    for key, value in rows:
        result.add_row(key, escape(value))
    return result


def fmt(value) -> str:
    """A value for a table cell: floats to 4 significant digits, None as '-'."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def enable_jax_cache() -> None:
    """Persist XLA executables under the cygen cache dir (commands that compile JAX code
    call this first), so a repeated command skips XLA compilation."""
    from cygen.compiler.cache import cache_dir
    from cygen.geometry.scale import enable_compilation_cache

    enable_compilation_cache(cache_dir() / "xla")


def existing(path: Path) -> Path:
    """``path`` if it exists, else a clean error."""
    if not path.exists():
        raise CygenError(f"cannot read {path}: no such file", filename=str(path))
    return path
