"""The pipeline parse -> analyse -> generate -> format: each stage's entry point, in order.

This file calls only the stages' entry points (as FFCx's ``compiler.py`` does); each stage is
its own module (``cygen.compiler.parse``, ``cygen.compiler.analysis``,
``cygen.compiler.generate``, ``cygen.compiler.format``).
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
    """Every stage's output: the AST, the IR and the formatted module source.

    Attributes
    ----------
    program : cygen.compiler.syntax.Program
        The parsed statements, each with its source span (``--emit ast``).
    ir : cygen.compiler.ir.ManifoldIR
        The analysed manifold: configuration, charts, topology, symmetries, slice plans, as
        sympy expressions and integer tables (``--emit ir``).
    code : str
        The generated, formatted Python module (``--emit code``; what ``cygen compile``
        writes).

    Examples
    --------
    >>> import cygen
    >>> result = cygen.compile_file("manifolds/torus.cy")
    >>> type(result.program).__name__, result.ir.name, result.ir.topology.intersections
    ('Program', 'torus', {(0,): 3})
    >>> result.code.splitlines()[1]
    '# source: torus.cy'
    """

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
    """Compile ``.cy`` text (the DSL of [the .cy language](dsl.md)) to a module's source.

    Parameters
    ----------
    source : str
        The ``.cy`` text.
    filename : str, optional
        The name error messages and the module header give the source.
    params : iterable of str or mapping of str to str, optional
        Overrides of declared parameters, ``["psi=0.1+0.2i"]`` or ``{"psi": "0.1+0.2i"}``
        (parsed by the grammar, exactly).
    allow_non_cy : bool, optional
        Compile even when c1 != 0 (``--allow-non-cy``).
    deformations : {"declared", "all"}, optional
        The complex-structure moduli the module differentiates in: the declared
        parameters, or with ``"all"`` every polynomial deformation too.

    Returns
    -------
    CompileResult
        The AST, the IR and the generated source.

    Raises
    ------
    cygen.core.errors.CygenError
        On bad input: ``file:line:col: error: message`` with the line and a caret.

    Examples
    --------
    >>> import cygen
    >>> result = cygen.compile_source("name cubic\\nambient P2\\neq z0^3 + z1^3 + z2^3\\n")
    >>> result.ir.configuration, result.ir.topology.euler
    (((3,),), 0)
    >>> cygen.compile_source("ambient P2\\neq z0^2 + z1^2 + z2^2\\n")
    Traceback (most recent call last):
    ...
    cygen.core.errors.CygenError: <input>:1:9: error: not Calabi-Yau (c1 != 0): ...
    """
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
    """Compile a ``.cy`` file to a generated JAX module's source (``cygen compile``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.cy`` file; its name (not its directory) is recorded in the module header.
    params : iterable of str or mapping of str to str, optional
        Overrides of declared parameters, as in ``compile_source``.
    allow_non_cy : bool, optional
        Compile even when c1 != 0.
    deformations : {"declared", "all"}, optional
        The moduli the module differentiates in (see ``compile_source``).

    Returns
    -------
    CompileResult
        The AST, the IR and the generated source; write ``result.code`` to a ``.py`` file,
        or use ``cygen.load``, which compiles into a cache and imports.

    Raises
    ------
    cygen.core.errors.CygenError
        On an unreadable file or bad input.

    Examples
    --------
    >>> import cygen
    >>> result = cygen.compile_file("manifolds/torus.cy")
    >>> result.ir.name, result.ir.dimension, result.ir.topology.euler
    ('torus', 1, 0)
    >>> result.code.startswith("# Generated by cygen")
    True
    """
    path = Path(path)
    return compile_source(read_text(path), str(path), params, allow_non_cy=allow_non_cy,
                          deformations=deformations)
