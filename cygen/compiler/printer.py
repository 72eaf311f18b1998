"""The only place where sympy expressions become Python/JAX source text."""

from __future__ import annotations

import sympy as sp
from sympy.printing.numpy import JaxPrinter


class CygenJaxPrinter(JaxPrinter):
    """A :class:`sympy.printing.numpy.JaxPrinter` with stable, compact output.

    * rationals print as correctly rounded float literals (``0.2``, not ``(1/5)``);
    * ``jax.numpy.f`` prints as ``jnp.f``;
    * symbols print by name (coordinates ``x0``, conjugates ``x0_bar``, CSE temps ``_c0``).
    """

    def __init__(self) -> None:
        super().__init__({"fully_qualified_modules": True, "precision": 17})

    def _module_format(self, fqn: str, register: bool = True) -> str:
        text = super()._module_format(fqn, register)
        if text.startswith("jax.numpy."):
            return "jnp." + text[len("jax.numpy.") :]
        return text

    def _print_Rational(self, expr: sp.Rational) -> str:
        if expr.q == 1:
            return str(expr.p)
        return repr(float(expr))

    def _print_Half(self, expr) -> str:
        return "0.5"

    def _print_Float(self, expr: sp.Float) -> str:
        return repr(float(expr))

    def _print_Pi(self, expr) -> str:
        return "jnp.pi"

    def _print_ImaginaryUnit(self, expr) -> str:
        return "1j"


def print_expr(expr: sp.Expr) -> str:
    """Print one expression as JAX source."""
    return CygenJaxPrinter().doprint(expr)
