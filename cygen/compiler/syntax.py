"""The abstract syntax tree of a ``.cy`` file: frozen dataclasses with source spans.

This is the output of :func:`cygen.parse.parse` and the input of
:func:`cygen.analyse.analyse`.  It is a faithful, unresolved picture of the
text: names are not looked up and numbers are kept as their literal text, so
``cygen compile --emit ast`` shows exactly what was read.
"""

from __future__ import annotations

from dataclasses import dataclass

from cygen.core.errors import Span


@dataclass(frozen=True)
class Number:
    """A numeric literal; ``imaginary`` for ``2i``-style literals."""

    text: str
    imaginary: bool
    span: Span


@dataclass(frozen=True)
class Name:
    """An identifier: a coordinate (``x0``), a parameter, or ``I``."""

    name: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    """A binary operation; ``op`` is one of ``+ - * / ^``."""

    op: str
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    """Unary minus."""

    operand: Expr
    span: Span


Expr = Number | Name | BinOp | Neg


@dataclass(frozen=True)
class Generic:
    """``generic(d1, ..., dm; seed=S)``: a dense random polynomial of multidegree d."""

    degrees: tuple[int, ...]
    seed: int
    span: Span


@dataclass(frozen=True)
class FactorDecl:
    """One projective factor ``P<dim>[prefix]`` of the ambient space."""

    dim: int
    prefix: str | None
    span: Span


@dataclass(frozen=True)
class NameStmt:
    name: str
    span: Span


@dataclass(frozen=True)
class AmbientStmt:
    factors: tuple[FactorDecl, ...]
    span: Span


@dataclass(frozen=True)
class ParamStmt:
    name: str
    value: Expr
    span: Span


@dataclass(frozen=True)
class KahlerStmt:
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class EqStmt:
    body: Expr | Generic
    span: Span


Statement = NameStmt | AmbientStmt | ParamStmt | KahlerStmt | EqStmt


@dataclass(frozen=True)
class Program:
    """A whole ``.cy`` file."""

    statements: tuple[Statement, ...]
    filename: str
    source: str


def dump(node, indent: int = 0) -> str:
    """An indented tree view of an AST node (``cygen compile --emit ast``)."""
    pad = "  " * indent
    if isinstance(node, Program):
        body = "\n".join(dump(s, indent + 1) for s in node.statements)
        return f"{pad}Program {node.filename}\n{body}"
    if isinstance(node, tuple):
        return "\n".join(dump(item, indent) for item in node)
    if not hasattr(node, "__dataclass_fields__") or isinstance(node, Span):
        return f"{pad}{node!r}"
    span = getattr(node, "span", None)
    where = f"  @{span.line}:{span.column}" if span else ""
    simple, nested = [], []
    for field in node.__dataclass_fields__:
        if field == "span":
            continue
        value = getattr(node, field)
        if hasattr(value, "__dataclass_fields__") or (
            isinstance(value, tuple) and value and hasattr(value[0], "__dataclass_fields__")
        ):
            nested.append(value)
        else:
            simple.append(f"{field}={value!r}")
    head = f"{pad}{type(node).__name__}({', '.join(simple)}){where}"
    return "\n".join([head] + [dump(v, indent + 1) for v in nested])
