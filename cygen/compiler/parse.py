"""Stage 1: text -> :class:`cygen.syntax.Program`, with a lark LALR grammar.

User text is never passed to ``eval`` or ``sympify``: it is tokenised and
parsed by ``grammar.lark`` and turned into frozen AST nodes.  Every syntax
error becomes a :class:`cygen.errors.CygenError` pointing at the offending
line and column.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import lark
from lark import Token, Transformer, v_args

from cygen.compiler import syntax as S
from cygen.core.errors import CygenError, Span

_DEFAULT_SEED = 0


@cache
def _parser() -> lark.Lark:
    grammar = resources.files("cygen.compiler").joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=True)


def _span(meta_or_token) -> Span:
    line = getattr(meta_or_token, "line", 1) or 1
    column = getattr(meta_or_token, "column", 1) or 1
    end_line = getattr(meta_or_token, "end_line", line)
    end_column = getattr(meta_or_token, "end_column", None)
    if end_line != line:
        end_column = None
    return Span(line, column, end_column)


@v_args(meta=True)
class _ToAst(Transformer):
    def start(self, meta, children):
        return tuple(children)

    def name_stmt(self, meta, children):
        return S.NameStmt(str(children[0]), _span(meta))

    def factor(self, meta, children):
        dim = int(str(children[0])[1:])
        prefix = str(children[1]) if len(children) > 1 else None
        return S.FactorDecl(dim, prefix, _span(meta))

    def ambient_stmt(self, meta, children):
        return S.AmbientStmt(tuple(children), _span(meta))

    def param_stmt(self, meta, children):
        return S.ParamStmt(str(children[0]), children[1], _span(meta))

    def kahler_stmt(self, meta, children):
        return S.KahlerStmt(tuple(children), _span(meta))

    def eq_stmt(self, meta, children):
        return S.EqStmt(children[0], _span(meta))

    def degrees(self, meta, children):
        return tuple(int(str(c)) for c in children)

    def seed(self, meta, children):
        return int(str(children[0]))

    def generic(self, meta, children):
        seed = children[1] if len(children) > 1 else _DEFAULT_SEED
        return S.Generic(children[0], seed, _span(meta))

    def number(self, meta, children):
        return S.Number(str(children[0]), False, _span(children[0]))

    def imag(self, meta, children):
        return S.Number(str(children[0])[:-1], True, _span(children[0]))

    def name(self, meta, children):
        return S.Name(str(children[0]), _span(children[0]))

    def _binop(op):  # noqa: N805 - factory used at class creation
        def build(self, meta, children):
            return S.BinOp(op, children[0], children[1], _span(meta))

        return build

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    pow = _binop("^")

    def neg(self, meta, children):
        return S.Neg(children[0], _span(meta))


def parse(source: str, filename: str = "<input>") -> S.Program:
    """Parse the text of a ``.cy`` file into a :class:`~cygen.syntax.Program`."""
    try:
        tree = _parser().parse(source)
    except lark.UnexpectedInput as exc:
        raise _syntax_error(exc, source).located(filename, source) from None
    statements = _ToAst().transform(tree)
    return S.Program(tuple(statements), filename, source)


def _syntax_error(exc: lark.UnexpectedInput, source: str) -> CygenError:
    line = getattr(exc, "line", None) or 1
    column = getattr(exc, "column", None) or 1
    if isinstance(exc, lark.UnexpectedCharacters):
        char = source[exc.pos_in_stream] if exc.pos_in_stream < len(source) else "end of file"
        message = f"unexpected character {char!r}"
    elif isinstance(exc, lark.UnexpectedToken):
        token: Token = exc.token
        if token.type == "$END":
            message = "unexpected end of file"
        elif token.type == "_NL":
            message = "unexpected end of line"
        else:
            message = f"unexpected {_describe(token)}"
        expected = _expected(exc.expected)
        if expected:
            message += f"; expected {expected}"
    elif isinstance(exc, lark.UnexpectedEOF):
        message = "unexpected end of file"
    else:  # pragma: no cover - lark has no other subclasses today
        message = "syntax error"
    return CygenError(message, span=Span(line, column))


_TERMINAL_NAMES = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "an integer",
    "IMAG": "an imaginary number",
    "PROJ": "a projective space such as P4",
    "_NL": "end of line",
    "$END": "end of file",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "SEMICOLON": "';'",
    "EQUAL": "'='",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "CIRCUMFLEX": "'^'",
}


def _describe(token: Token) -> str:
    if token.type in ("NAME", "NUMBER", "INT", "IMAG", "PROJ"):
        return f"{_TERMINAL_NAMES[token.type].split(' ', 1)[-1]} {str(token)!r}"
    return repr(str(token))


def _expected(names) -> str:
    words = sorted({_TERMINAL_NAMES.get(n, _keyword(n)) for n in names})
    if not words or len(words) > 8:
        return ""
    return " or ".join(words) if len(words) <= 2 else ", ".join(words[:-1]) + " or " + words[-1]


def _keyword(name: str) -> str:
    return f"'{name.lower()}'" if name.isupper() else name
