"""Layer 1, the compiler: ``.cy`` text -> a plain, importable JAX module.

Stages (each a pure function, inspectable with ``cygen compile X.cy --emit ast|ir|code``)::

    text --parse--> AST --analyse--> IR --generate--> source --format--> module.py

sympy, lark and jinja2 only: nothing here imports jax (a test checks it); the generated
module imports jax when it is loaded.  The names below are imported on first use, so
``import cygen.compiler`` stays cheap and loading a cached module never imports sympy.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "CompileResult": "cygen.compiler.pipeline",
    "compile_file": "cygen.compiler.pipeline",
    "compile_source": "cygen.compiler.pipeline",
    "parse_overrides": "cygen.compiler.pipeline",
    "cache_dir": "cygen.compiler.cache",
    "ContractError": "cygen.compiler.loader",
    "load": "cygen.compiler.loader",
    "load_file": "cygen.compiler.loader",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'cygen.compiler' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
