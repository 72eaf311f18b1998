"""The facts a generated module's ``SPEC`` states, from the IR: configuration, charts,
topology, exact volume and slope targets, exact equations, symmetries.

``cygen info`` prints the same dictionary without generating code; :mod:`generate` writes it
into the module.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from cygen.compiler.analysis.topology import slope_targets, volume
from cygen.compiler.ir import ManifoldIR

__all__ = ["exact_equations", "fs_volume", "moduli_spec", "spec", "symmetry_spec", "targets"]


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
        "kahler_exact": [str(t) for t in ir.kahler],
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
        "singular_point": None if ir.singular_point is None
        else [[round(z.real, 12) + 0.0, round(z.imag, 12) + 0.0] for z in ir.singular_point],
        "nearest_smooth_member": None if ir.nearest_smooth is None
        else {"param": ir.nearest_smooth[0], "value": str(ir.nearest_smooth[1]),
              "value_float": [float(sp.re(ir.nearest_smooth[1])),
                              float(sp.im(ir.nearest_smooth[1]))]},
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
        **moduli_spec(ir),
    }


def moduli_spec(ir: ManifoldIR) -> dict:
    """The moduli entries of SPEC (:mod:`cygen.compiler.analysis.moduli`): the directions
    ``dp_dt`` differentiates in and (compiled with ``deformations="all"``) the number of
    the member's polynomial deformations."""
    m = ir.moduli
    return {
        "moduli": list(m.names),
        "moduli_declared": m.declared,
        "moduli_mode": m.mode,
        "not_moduli": list(m.not_moduli),
        "polynomial_deformations": None if m.deformations is None else m.deformations.count,
        "declared_deformation_rank": None if m.deformations is None
        else m.deformations.declared_rank,
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
        "symmetry_invariants": {
            "degree": sym.invariant_degree,
            "orbits": [{"real": o.real, "terms": [[*a, *b] for a, b in o.terms]}
                       for o in sym.invariants]},
    }
