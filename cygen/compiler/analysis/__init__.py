"""Stage 2 of the compiler, analysis: AST -> :class:`~cygen.compiler.ir.ManifoldIR`.

One module per analysis (see :mod:`cygen.compiler.analysis.analyse` for the order); each is
exact (sympy, integers, fractions).  :mod:`~cygen.compiler.analysis.sections` is the one
analysis run on demand rather than at compile time: Gröbner bases of sections for
Donaldson's balanced metrics, from the exact equations a generated module states.
"""

from cygen.compiler.analysis.analyse import analyse, source_hash

__all__ = ["analyse", "source_hash"]
