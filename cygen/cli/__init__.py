"""Layer 7, the ``cygen`` command line (typer + rich), one module per group of commands.

Bad input of any kind ends in ``error: <file>: <what>`` (with line and column for DSL
files) and exit status 2, never a traceback (:func:`cygen.cli.common.guarded`).
"""

from cygen.cli.app import app, main

__all__ = ["app", "main"]
