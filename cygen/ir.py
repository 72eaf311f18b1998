"""The intermediate representation: frozen dataclasses holding sympy objects.

Nothing here is code: the IR holds sympy expressions and integer tables, and
only :mod:`cygen.printer` turns expressions into text.  ``cygen compile
--emit ir`` prints it with :func:`describe`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from cygen.slices import SliceType
from cygen.topology import Topology


@dataclass(frozen=True)
class Factor:
    """One projective factor P^dim with its homogeneous coordinates."""

    dim: int
    prefix: str
    coords: tuple[sp.Symbol, ...]
    offset: int  # global index of the first coordinate


@dataclass(frozen=True)
class Kernel:
    """A set of sympy expressions of the coordinates, with CSE applied once.

    ``outputs`` are the original expressions (used by tests against
    ``sympy.lambdify``); ``temps`` and ``reduced`` are the CSE form that is
    printed.  ``shape`` is the shape of the output array.
    """

    name: str
    shape: tuple[int, ...]
    outputs: tuple[sp.Expr, ...]
    temps: tuple[tuple[sp.Symbol, sp.Expr], ...]
    reduced: tuple[sp.Expr, ...]
    conjugate: bool  # whether the expressions involve the conjugate coordinates


@dataclass(frozen=True)
class Chart:
    """A chart: per factor one affine coordinate set to 1, plus K dependent coordinates.

    All entries are global coordinate indices.  ``free`` are the chart's local
    coordinates (neither affine nor dependent), in increasing order.
    """

    affine: tuple[int, ...]
    dependent: tuple[int, ...]
    free: tuple[int, ...]


@dataclass(frozen=True)
class Charts:
    """All charts plus the lookup tables used by ``select_chart``.

    ``dependent_sets`` are the admissible K-subsets of coordinates (their
    Jacobian minor is not identically zero).  ``lookup[c][s]`` is the chart
    with affine combination ``c`` (mixed radix over the factors, see
    :func:`cygen.patches.affine_index`) and dependent set ``s``, or -1.
    """

    charts: tuple[Chart, ...]
    dependent_sets: tuple[tuple[int, ...], ...]
    lookup: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ManifoldIR:
    """Everything the generator needs, and nothing printed yet."""

    name: str
    source_name: str  # file name only, so output bytes do not depend on the checkout path
    source_hash: str
    factors: tuple[Factor, ...]
    coords: tuple[sp.Symbol, ...]
    conj_coords: tuple[sp.Symbol, ...]
    params: tuple[tuple[str, sp.Expr], ...]
    kahler: tuple[sp.Rational, ...]
    configuration: tuple[tuple[int, ...], ...]  # rows = factors, columns = equations
    dimension: int
    equations: Kernel
    jacobian: Kernel
    fs_ambient: Kernel
    charts: Charts
    topology: Topology
    slices: tuple[SliceType, ...]

    @property
    def n_ambient(self) -> int:
        return len(self.coords)

    @property
    def n_equations(self) -> int:
        return len(self.equations.outputs)


def describe(ir: ManifoldIR) -> str:
    """A human-readable dump of the IR (``--emit ir``)."""
    lines = [
        f"ManifoldIR {ir.name!r} from {ir.source_name} (sha256 {ir.source_hash[:16]}...)",
        "  ambient: "
        + " x ".join(f"P{f.dim}[{f.prefix}] ({', '.join(map(str, f.coords))})" for f in ir.factors),
        f"  configuration (rows = factors, columns = equations): {ir.configuration}",
        f"  dimension: {ir.dimension}",
        f"  params: {', '.join(f'{k} = {v}' for k, v in ir.params) or '-'}",
        f"  kahler: {', '.join(map(str, ir.kahler))}",
        f"  euler: {ir.topology.euler}",
        f"  intersections: {dict(ir.topology.intersections)}",
        f"  slices (t, points): {[(s.t, s.degree) for s in ir.slices]}",
        f"  charts: {len(ir.charts.charts)} "
        f"({len(ir.charts.dependent_sets)} admissible dependent sets)",
    ]
    for kernel in (ir.equations, ir.jacobian, ir.fs_ambient):
        lines.append(
            f"  kernel {kernel.name}: shape {kernel.shape}, "
            f"{len(kernel.temps)} common subexpressions"
        )
        for sym, expr in kernel.temps:
            lines.append(f"    {sym} = {expr}")
        for index, expr in enumerate(kernel.reduced):
            if expr != 0:
                lines.append(f"    [{index}] = {expr}")
    return "\n".join(lines)
