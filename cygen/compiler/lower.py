"""Stage 2a: resolve the AST into sympy objects (:class:`LoweredManifold`).

Names are looked up (coordinates, parameters, ``I``), literals become exact
sympy numbers, parameters are substituted by their (possibly overridden)
values and ``generic(...)`` is expanded.  Everything the user can get wrong
about names, numbers and exponents is reported here with its source span.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from cygen.compiler import syntax as S
from cygen.compiler.generic import generic_polynomial
from cygen.compiler.ir import Factor
from cygen.core.errors import CygenError, Span

MAX_EXPONENT = 64
_DEFAULT_PREFIXES = ("z", "w", "u", "v", "s", "r", "p", "q")
_RESERVED = {"I", "generic", "seed", "jnp", "jax", "np", "zb", "SPEC"}


@dataclass(frozen=True)
class LoweredManifold:
    """A resolved manifold description: sympy equations plus source spans."""

    name: str
    factors: tuple[Factor, ...]
    factor_spans: tuple[Span, ...]
    ambient_span: Span
    params: tuple[tuple[str, sp.Expr], ...]
    kahler: tuple[sp.Rational, ...]
    equations: tuple[sp.Expr, ...]
    equation_spans: tuple[Span, ...]
    # per parameter, dp_k/dt (k over the equations) at the given values, or None
    param_derivatives: tuple[tuple[sp.Expr, ...] | None, ...] = ()


def lower(program: S.Program, overrides: Mapping[str, sp.Expr] | None = None) -> LoweredManifold:
    """Resolve ``program``; ``overrides`` replace parameter defaults (``--param``)."""
    try:
        return _lower(program, dict(overrides or {}))
    except CygenError as exc:
        if exc.filename is None:
            raise exc.located(program.filename, program.source) from None
        raise


def _one(program: S.Program, kind: type, what: str, required: bool):
    found = [s for s in program.statements if isinstance(s, kind)]
    if len(found) > 1:
        raise CygenError(f"duplicate '{what}' statement", span=found[1].span)
    if required and not found:
        raise CygenError(f"missing '{what}' statement", span=Span(1, 1))
    return found[0] if found else None


def _lower(program: S.Program, overrides: dict[str, sp.Expr]) -> LoweredManifold:
    name_stmt = _one(program, S.NameStmt, "name", required=False)
    ambient = _one(program, S.AmbientStmt, "ambient", required=True)
    kahler_stmt = _one(program, S.KahlerStmt, "kahler", required=False)
    name = name_stmt.name if name_stmt else _stem(program.filename)

    factors, spans = _factors(ambient)
    symbols = {str(c): c for f in factors for c in f.coords}

    params: dict[str, sp.Expr] = {}
    for stmt in program.statements:
        if isinstance(stmt, S.ParamStmt):
            _check_name(stmt.name, stmt.span)
            if stmt.name in params or stmt.name in symbols:
                raise CygenError(f"duplicate name '{stmt.name}'", span=stmt.span)
            value = constant(stmt.value, params)
            params[stmt.name] = overrides.pop(stmt.name, value)
    if overrides:
        unknown = ", ".join(sorted(overrides))
        raise CygenError(f"--param names unknown parameter(s): {unknown}", span=Span(1, 1))

    kahler = tuple(sp.Integer(1) for _ in factors)
    if kahler_stmt is not None:
        if len(kahler_stmt.values) != len(factors):
            raise CygenError(
                f"'kahler' needs one value per factor: {len(factors)}, got "
                f"{len(kahler_stmt.values)}",
                span=kahler_stmt.span,
            )
        values = []
        for expr in kahler_stmt.values:
            value = constant(expr, params)
            if not (value.is_real and value.is_positive):
                raise CygenError(f"Kähler modulus must be real and positive, got {value}",
                                 span=_span_of(expr))
            values.append(sp.nsimplify(value) if value.is_Float else value)
        kahler = tuple(values)

    equations, eq_spans = [], []
    for stmt in program.statements:
        if not isinstance(stmt, S.EqStmt):
            continue
        if isinstance(stmt.body, S.Generic):
            if len(stmt.body.degrees) != len(factors):
                raise CygenError(
                    f"generic(...) needs one degree per factor: {len(factors)}, got "
                    f"{len(stmt.body.degrees)}",
                    span=stmt.body.span,
                )
            if any(d > MAX_EXPONENT for d in stmt.body.degrees):
                raise CygenError(f"degree above {MAX_EXPONENT}", span=stmt.body.span)
            expr = generic_polynomial(
                [f.coords for f in factors], stmt.body.degrees, stmt.body.seed, len(equations)
            )
        else:
            expr = sp.expand(_expr(stmt.body, symbols, params))
        equations.append(expr)
        eq_spans.append(stmt.span)
    if not equations:
        raise CygenError("no equations: add at least one 'eq' line", span=ambient.span)

    return LoweredManifold(
        name=name,
        factors=factors,
        factor_spans=spans,
        ambient_span=ambient.span,
        params=tuple(params.items()),
        kahler=kahler,
        equations=tuple(equations),
        equation_spans=tuple(eq_spans),
        param_derivatives=_param_derivatives(program, symbols, params),
    )


def _param_derivatives(program: S.Program, symbols: Mapping[str, sp.Symbol],
                       params: Mapping[str, sp.Expr]) -> tuple[tuple[sp.Expr, ...] | None, ...]:
    """dp_k/dt for every parameter t (k over the equations), at the parameters' values:
    each parameter is shifted by its own symbol, the equations are lowered again and
    differentiated.  ``None`` for a parameter that enters an equation where no symbol may
    (an exponent, say): it cannot be a complex-structure modulus."""
    out = []
    for name in params:
        shift = sp.Dummy(f"d_{name}")
        shifted = {**params, name: params[name] + shift}
        try:
            rows = tuple(
                sp.expand(sp.diff(_expr(stmt.body, symbols, shifted), shift).subs(shift, 0))
                if not isinstance(stmt.body, S.Generic) else sp.Integer(0)
                for stmt in program.statements if isinstance(stmt, S.EqStmt))
        except CygenError:
            rows = None
        out.append(rows)
    return tuple(out)


def _stem(filename: str) -> str:
    stem = filename.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if stem.isidentifier() else "manifold"


def _check_name(name: str, span: Span) -> None:
    if name.startswith("_") or name in _RESERVED or keyword.iskeyword(name):
        raise CygenError(f"'{name}' is a reserved name", span=span)


def _factors(ambient: S.AmbientStmt) -> tuple[tuple[Factor, ...], tuple[Span, ...]]:
    used = {f.prefix for f in ambient.factors if f.prefix}
    defaults = iter(p for p in _DEFAULT_PREFIXES if p not in used)
    factors, spans, seen, offset = [], [], {}, 0
    for f in ambient.factors:
        if f.dim < 1:
            raise CygenError("a projective factor needs dimension >= 1", span=f.span)
        if f.dim > 32:
            raise CygenError("projective dimension above 32 is not supported", span=f.span)
        if f.prefix is not None:
            _check_name(f.prefix, f.span)
        prefix = f.prefix or next(defaults, None)
        if prefix is None:
            raise CygenError("too many unnamed factors: name them, e.g. P2[x]", span=f.span)
        coords = tuple(sp.Symbol(f"{prefix}{i}") for i in range(f.dim + 1))
        for c in coords:
            if str(c) in seen:
                raise CygenError(f"duplicate name '{c}' (coordinates of two factors clash)",
                                 span=f.span)
            seen[str(c)] = True
        factors.append(Factor(f.dim, prefix, coords, offset))
        spans.append(f.span)
        offset += f.dim + 1
    return tuple(factors), tuple(spans)


def _span_of(node) -> Span:
    return node.span


def _number(node: S.Number) -> sp.Expr:
    try:
        value = Fraction(node.text)
    except (ValueError, ZeroDivisionError):  # pragma: no cover - grammar guarantees a literal
        raise CygenError(f"bad number {node.text!r}", span=node.span) from None
    number = sp.Rational(value.numerator, value.denominator)
    return number * sp.I if node.imaginary else number


def constant(node: S.Expr, params: Mapping[str, sp.Expr]) -> sp.Expr:
    value = _expr(node, {}, params)
    if value.free_symbols:  # pragma: no cover - no symbols are in scope
        raise CygenError("expected a constant", span=node.span)
    return value


def _expr(node: S.Expr, symbols: Mapping[str, sp.Symbol], params: Mapping[str, sp.Expr]):
    if isinstance(node, S.Number):
        return _number(node)
    if isinstance(node, S.Name):
        if node.name in symbols:
            return symbols[node.name]
        if node.name in params:
            return params[node.name]
        if node.name == "I":
            return sp.I
        raise CygenError(f"unknown symbol '{node.name}'", span=node.span)
    if isinstance(node, S.Neg):
        return -_expr(node.operand, symbols, params)
    left = _expr(node.left, symbols, params)
    right = _expr(node.right, symbols, params)
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if node.op == "/":
        if right.free_symbols & set(symbols.values()):
            raise CygenError("division by a coordinate: equations must be polynomials",
                             span=node.right.span)
        if right == 0:
            raise CygenError("division by zero", span=node.right.span)
        return left / right
    return _power(node, left, right)


def _power(node: S.BinOp, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    if exponent.free_symbols:
        raise CygenError("exponent must be a constant", span=node.right.span)
    if not (exponent.is_integer and exponent >= 0):
        if base.free_symbols:
            raise CygenError("exponent of a coordinate must be a non-negative integer",
                             span=node.right.span)
        if not exponent.is_integer:
            raise CygenError("exponent must be an integer", span=node.right.span)
    if abs(exponent) > MAX_EXPONENT:
        raise CygenError(f"exponent above {MAX_EXPONENT}", span=node.right.span)
    if base == 0 and exponent < 0:
        raise CygenError("division by zero", span=node.span)
    if not base.free_symbols and exponent != 0 and _bits(base) * abs(int(exponent)) > 4096:
        raise CygenError("constant too large", span=node.span)
    return base**exponent


def _bits(value: sp.Expr) -> int:
    """A bound on the bit size of the numbers in a constant (for overflow checks)."""
    sizes = [abs(int(n)).bit_length() for r in value.atoms(sp.Rational) for n in (r.p, r.q)]
    return max(sizes, default=1)
