"""The pipeline parse -> analyse -> generate -> format: each stage's entry point, in order.

This file calls only the stages' entry points (as FFCx's ``compiler.py`` does); each stage is
its own module (:mod:`~cygen.compiler.parse`, :mod:`~cygen.compiler.analysis`,
:mod:`~cygen.compiler.generate`, :mod:`~cygen.compiler.format`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from cygen.compiler import syntax as S
from cygen.compiler.analysis import analyse
from cygen.compiler.format import format_source
from cygen.compiler.generate import generate
from cygen.compiler.ir import ManifoldIR
from cygen.compiler.lower import constant
from cygen.compiler.parse import parse
from cygen.core.errors import CygenError
from cygen.core.io import read_text

__all__ = [
    "CompileResult",
    "compile_file",
    "compile_source",
    "parse_overrides",
]


@dataclass(frozen=True)
class CompileResult:
    """Every stage's output: the AST, the IR and the formatted module source."""

    program: S.Program
    ir: ManifoldIR
    code: str


def parse_overrides(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, sp.Expr]:
    """``["psi=0.1+0.2i"]`` (or a mapping) -> ``{"psi": sympy value}``, parsed by the grammar."""
    if items is None:
        return {}
    pairs = items.items() if isinstance(items, Mapping) else (_split(i) for i in items)
    result = {}
    for name, text in pairs:
        label = f"--param {name}={text}"
        try:
            (stmt,) = parse(f"param {name} = {text}\n", label).statements
            result[name] = constant(stmt.value, {})
        except (CygenError, ValueError):
            raise CygenError(f"bad {label}: expected a constant such as 0.1+0.2i") from None
    return result


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise CygenError(f"--param expects NAME=VALUE, got {item!r}")
    return name.strip(), value.strip()


def compile_source(
    source: str,
    filename: str = "<input>",
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
    deformations: str = "declared",
) -> CompileResult:
    """Compile ``.cy`` text to a module; raises :class:`CygenError` on bad input."""
    program = parse(source, filename)
    ir = analyse(program, parse_overrides(params), allow_non_cy=allow_non_cy,
                 deformations=deformations)
    return CompileResult(program, ir, format_source(generate(ir)))


def compile_file(
    path: str | os.PathLike,
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
    deformations: str = "declared",
) -> CompileResult:
    """Compile a ``.cy`` file (its path, as given, is recorded in the module header)."""
    path = Path(path)
    return compile_source(read_text(path), str(path), params, allow_non_cy=allow_non_cy,
                          deformations=deformations)
