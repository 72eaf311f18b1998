"""Stage 3: IR -> Python source, through the printer and one jinja2 template.

All math is printed by :mod:`cygen.printer`; the template only lays out the
pieces.  Output is deterministic: no timestamps, no dependence on hash seeds.
"""

from __future__ import annotations

import pprint
from fractions import Fraction
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from cygen import __version__
from cygen.ir import Kernel, ManifoldIR
from cygen.printer import print_expr
from cygen.topology import volume

TEMPLATE = "module.py.j2"


def template_dir() -> Path:
    """The templates shipped in the wheel (cygen/templates) or the source tree's templates/."""
    packaged = resources.files("cygen").joinpath("templates")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "templates"


def environment() -> jinja2.Environment:
    """The one jinja2 environment: strict about undefined names; HTML templates
    (``*.html.j2``, the run report) are autoescaped, Python templates are not."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False,
                                            default_for_string=False),
    )


def fs_volume(ir: ManifoldIR) -> Fraction:
    """Exact FS volume int_X J^n/n!, J = sum_a t_a H_a."""
    return volume(ir.topology, [Fraction(int(t.p), int(t.q)) for t in ir.kahler])


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
            f"# template: {TEMPLATE}, cygen {__version__}. Do not edit: recompile instead.",
        ]
    )
    context = {
        "header": header,
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
        "kahler": repr(tuple(float(t) for t in ir.kahler)),
    }
    return environment().get_template(TEMPLATE).render(**context)
