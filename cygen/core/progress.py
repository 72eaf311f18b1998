"""The one progress display of every long command: a rich bar on stderr.

Producers (sampling, training, Donaldson's iteration, studies) report progress through a
callback of their own events; each offers a small adapter that turns its events into the
calls here (``cygen.learn.trainer.progress_callback``, ``cygen.learn.donaldson.
progress_callback``), so the display is written once.  The bar is drawn only when stderr is
a terminal (``enabled=None``), so logs and pipes stay clean; messages are printed above it
in any case.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A rich progress bar with a label, an info field and messages above it.

    ``with Progress() as bar: bar.task("sampling", total=n); bar.advance(k); ...``
    """

    def __init__(self, *, enabled: bool | None = None, transient: bool = True,
                 console: Any = None) -> None:
        self._enabled, self._transient, self._console = enabled, transient, console
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        from rich.console import Console
        from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichBar

        console = self._console or Console(stderr=True)
        enabled = console.is_terminal if self._enabled is None else self._enabled
        self._bar = RichBar(TextColumn("[bold]{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                            console=console, transient=self._transient, disable=not enabled)
        self._bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def task(self, label: str, total: float | None = None, info: str = "") -> None:
        """Start a new task (the previous one stays, finished, unless transient)."""
        if self._bar is not None:
            self._task = self._bar.add_task(label, total=total, info=info)

    def update(self, *, completed: float | None = None, total: float | None = None,
               info: str | None = None, label: str | None = None) -> None:
        """Move the current task (fields left ``None`` keep their values)."""
        if self._bar is None or self._task is None:
            return
        fields: dict[str, Any] = {}
        if completed is not None:
            fields["completed"] = completed
        if total is not None:
            fields["total"] = total
        if info is not None:
            fields["info"] = info
        if label is not None:
            fields["description"] = label
        self._bar.update(self._task, **fields)

    def advance(self, by: float = 1) -> None:
        """Advance the current task by ``by``."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, by)

    def message(self, text: str) -> None:
        """Print ``text`` above the bar (always, even when the bar itself is not drawn)."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            sys.stderr.write(text + "\n")
