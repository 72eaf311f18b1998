"""Stage 3: IR -> Python source, through the printer and one jinja2 template.

All math is printed by :mod:`cygen.printer`; the template only lays out the
pieces.  Output is deterministic: no timestamps, no dependence on hash seeds.
"""

from __future__ import annotations

import pprint
from fractions import Fraction
from pathlib import Path

import numpy as np
import sympy as sp

from cygen.compiler.analysis.topology import slope_targets, volume
from cygen.compiler.ir import Kernel, ManifoldIR
from cygen.compiler.printer import print_expr
from cygen.core.templates import environment
from cygen.core.version import CONTRACT_VERSION, __version__

__all__ = ["TEMPLATE", "TEMPLATES", "generate", "spec"]

TEMPLATE = "module.py.j2"
TEMPLATES = Path(__file__).resolve().parent / "templates"  # beside the code that fills them


def fs_volume(ir: ManifoldIR) -> Fraction:
    """Exact FS volume int_X J^n/n!, J = sum_a t_a H_a."""
    return volume(ir.topology, [Fraction(int(t.p), int(t.q)) for t in ir.kahler])


def targets(ir: ManifoldIR) -> list[Fraction]:
    """Exact Kähler-class slopes int_X J^(n-1) ^ H_a (the trainer's volume-loss targets)."""
    return slope_targets(ir.topology, [Fraction(int(t.p), int(t.q)) for t in ir.kahler])


def _gaussian_rational(c: sp.Expr) -> list[int]:
    """[re numerator, re denominator, im numerator, im denominator] of a number in Q(i)."""
    re, im = (sp.Rational(x) for x in c.as_real_imag())
    return [int(re.p), int(re.q), int(im.p), int(im.q)]


def exact_equations(ir: ManifoldIR) -> list[list[list]]:
    """Each equation as its terms ``[exponents, [re_p, re_q, im_p, im_q]]`` (exact Q(i)
    coefficients; the DSL admits no others), for consumers that need the exact polynomials
    (Gröbner bases of sections, :mod:`cygen.compiler.analysis.sections`)."""
    out = []
    for eq in ir.equations.outputs:
        poly = sp.Poly(sp.expand(eq), *ir.coords)
        out.append([[list(e), _gaussian_rational(c)] for e, c in poly.terms()])
    return out


def spec(ir: ManifoldIR) -> dict:
    """The SPEC dictionary of the generated module (plain Python data)."""
    topo = ir.topology
    return {
        "name": ir.name,
        "source": ir.source_name,
        "source_hash": ir.source_hash,
        "ambient": [f.dim for f in ir.factors],
        "coordinates": [str(c) for c in ir.coords],
        "configuration": [list(row) for row in ir.configuration],
        "dimension": ir.dimension,
        "n_equations": ir.n_equations,
        "params": {k: complex(v) for k, v in ir.params},
        "params_exact": {k: str(v) for k, v in ir.params},
        "kahler": [float(t) for t in ir.kahler],
        "charts": [
            {"affine": list(c.affine), "dependent": list(c.dependent)} for c in ir.charts.charts
        ],
        "euler": topo.euler,
        "intersection_numbers": {k: v for k, v in topo.intersections.items()},
        "c2_dot_J": list(topo.c2_dot_J) if topo.c2_dot_J is not None else None,
        "volume": float(fs_volume(ir)),
        "volume_exact": str(fs_volume(ir)),
        "slope_targets": [float(x) for x in targets(ir)],
        "slope_targets_exact": [str(x) for x in targets(ir)],
        "equations_exact": exact_equations(ir),
        "slices": [
            {
                "t": list(s.t),
                "points": s.degree,
                "plan": None if s.plan is None
                else [[st.kind, st.factor, st.equation] for st in s.plan],
            }
            for s in ir.slices
        ],
        **symmetry_spec(ir),
    }


def symmetry_spec(ir: ManifoldIR) -> dict:
    """The symmetry entries of SPEC (see :mod:`cygen.symmetries` and docs/symmetries.md)."""
    sym = ir.symmetry
    return {
        "symmetry_order": sym.order,
        "symmetry_generators": [{"perm": list(e.perm), "phase": list(e.phase)}
                                for e in sym.generators],
        "symmetry_phase_denominator": sym.denominator,
        "symmetry_permutations": [list(p) for p in sym.permutations],
        "symmetry_phase_generators": [list(a) for a in sym.phase_generators],
        "symmetry_phase_orders": list(sym.phase_orders),
        "patch_classes": [list(c) for c in sym.patch_classes],
        "patch_class_of_chart": list(sym.class_of_chart),
        "patch_class_maps": [list(p) for p in sym.to_representative],
        "seed_patch_classes": [list(c) for c in sym.seed_classes],
        "seed_patch_classes_with_swaps": [list(c) for c in sym.seed_classes_full],
    }


def _table(name: str, rows) -> dict:
    array = np.asarray(rows, dtype=np.int64)
    if array.size == 0:
        array = array.reshape(len(rows), 0)
    return {
        "name": name,
        "literal": pprint.pformat(array.ravel().tolist(), width=88, compact=True).replace(
            "\n", "\n    "
        ),
        "shape": repr(tuple(int(s) for s in array.shape)),
    }


def _kernel(kernel: Kernel, ir: ManifoldIR) -> dict:
    names = ", ".join(str(c) for c in ir.coords)
    conj_names = ", ".join(str(c) for c in ir.conj_coords)
    return {
        "name": kernel.name,
        "unpack": f"{names}, = z" if len(ir.coords) == 1 else f"{names} = z",
        "unpack_conj": f"{conj_names} = jnp.conj(z)",
        "conjugate": kernel.conjugate,
        "body": [f"{sym} = {print_expr(expr)}" for sym, expr in kernel.temps],
        "result": "[" + ", ".join(print_expr(e) for e in kernel.reduced) + "]",
        "shape": repr(kernel.shape),
    }


def generate(ir: ManifoldIR) -> str:
    """Render the module source (unformatted; see :func:`cygen.format.format_source`)."""
    charts = ir.charts
    header = "\n".join(
        [
            "# Generated by cygen; body sha256 {body_sha256}",
            f"# source: {ir.source_name}",
            f"# source sha256 {ir.source_hash}",
            f"# template: {TEMPLATE}, cygen {__version__}, contract {CONTRACT_VERSION}. "
            "Do not edit: recompile instead.",
        ]
    )
    context = {
        "header": header,
        "contract_version": CONTRACT_VERSION,
        "name": ir.name,
        "spec": pprint.pformat(spec(ir), width=96, sort_dicts=False, compact=True),
        "tables": [
            _table("_AFFINE", [c.affine for c in charts.charts]),
            _table("_DEPENDENT", [c.dependent for c in charts.charts]),
            _table("_FREE", [c.free for c in charts.charts]),
            _table("_DEPENDENT_SETS", charts.dependent_sets),
            _table("_LOOKUP", charts.lookup),
        ],
        "kernels": [_kernel(k, ir) for k in (ir.equations, ir.jacobian, ir.fs_ambient)],
        "factor_sizes": repr(tuple(f.dim + 1 for f in ir.factors)),
    }
    return environment(TEMPLATES).get_template(TEMPLATE).render(**context)
