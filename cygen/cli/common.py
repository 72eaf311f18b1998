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

from cygen.core.errors import CygenError

__all__ = ["AllowOpt", "DevicesOpt", "ParamOpt", "enable_jax_cache", "err", "existing", "fmt",
           "guarded", "out", "say", "table"]

class _LazyConsole:
    """A rich Console made on first use (importing rich's console costs ~70 ms, which
    ``cygen --help`` and the compiler's commands need not pay until they print a table)."""

    def __init__(self, **options) -> None:
        self._options, self._console = options, None

    def __getattr__(self, name: str):
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


out = _LazyConsole()
err = _LazyConsole(stderr=True)

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


def say(text: str) -> None:
    """A line on stderr (warnings, errors): plain text, never wrapped or marked up."""
    sys.stderr.write(text + "\n")


def table(title: str, rows: list[tuple[str, str]]):
    """A two-column key/value table (a rich ``Table``)."""
    from rich.markup import escape
    from rich.table import Table

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
