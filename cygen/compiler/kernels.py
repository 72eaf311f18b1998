"""Stage 2e: kernels, i.e. arrays of sympy expressions with common subexpressions eliminated.

CSE happens here, once, in the IR stage; the printer only prints.  Temporary
symbols are named ``_c0, _c1, ...`` (user names cannot start with ``_``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

from cygen.compiler.ir import Kernel


def make_kernel(
    name: str,
    exprs: Sequence[sp.Expr],
    shape: tuple[int, ...],
    conj_coords: Sequence[sp.Symbol],
) -> Kernel:
    """Apply CSE to ``exprs`` (row-major for ``shape``) and wrap them as a :class:`Kernel`."""
    exprs = tuple(sp.sympify(e) for e in exprs)  # sympy objects only, never user text
    temps, reduced = sp.cse(
        list(exprs), symbols=sp.numbered_symbols("_c"), order="canonical", optimizations=None
    )
    conj = set(conj_coords)
    uses_conj = any(e.free_symbols & conj for e in exprs)
    return Kernel(
        name=name,
        shape=shape,
        outputs=exprs,
        temps=tuple((s, e) for s, e in temps),
        reduced=tuple(reduced),
        conjugate=bool(uses_conj),
    )
