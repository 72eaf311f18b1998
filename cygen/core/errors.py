"""User-facing errors carrying a source location (file, line, column).

Every problem with user input is raised as :class:`CygenError`; the CLI prints
``file:line:col: error: message`` followed by the offending source line and a
caret for a located error in a source (DSL) file, ``error: file: message`` for any other
bad file, and exits with status 2.  No Python traceback reaches the user.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """A position in a source text (1-based line and column)."""

    line: int
    column: int
    end_column: int | None = None


class CygenError(Exception):
    """An error in user input, optionally located in a source file."""

    def __init__(
        self,
        message: str,
        *,
        span: Span | None = None,
        filename: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.filename = filename
        self.source = source

    def located(self, filename: str, source: str) -> CygenError:
        """Return a copy of this error attached to ``filename``/``source``."""
        return CygenError(self.message, span=self.span, filename=filename, source=source)

    def format(self) -> str:
        """Render as ``file:line:col: error: msg`` plus the source line and a caret."""
        if self.filename is None:
            return f"error: {self.message}"
        where = self.filename
        if self.span is None:
            if self.message.startswith(f"{where}:") or self.message.startswith(f"{where} "):
                return f"error: {self.message}"
            return f"error: {where}: {self.message}"
        head = f"{where}:{self.span.line}:{self.span.column}: error: {self.message}"
        if self.source is None:
            return head
        lines = self.source.splitlines()
        if not 1 <= self.span.line <= len(lines):
            return head
        text = lines[self.span.line - 1].expandtabs(1)
        width = 1
        if self.span.end_column is not None and self.span.end_column > self.span.column:
            width = self.span.end_column - self.span.column
        caret = " " * (self.span.column - 1) + "^" + "~" * (width - 1)
        return f"{head}\n    {text}\n    {caret}"

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.format()
