"""Stage 2: AST -> :class:`cygen.ir.ManifoldIR`, one analysis per module.

    lower           names, numbers, parameters, generic(...)   (cygen.lower)
    configuration   multidegrees, homogeneity, c1, dimension    (cygen.configuration)
    volume_form     admissible dependent sets                   (cygen.volume_form)
    patches         charts and select_chart tables              (cygen.patches)
    fubini_study    the ambient Fubini-Study metric             (cygen.fubini_study)
    topology        chi, intersection numbers, c2.J             (cygen.topology)
    symmetries      symmetry group and patch classes           (cygen.symmetries)
    singular        a singular point, if the member has one    (numerical search)
    moduli          dp/dt, d2p/dzdt, polynomial deformations   (cygen.moduli)
    kernels         CSE of every emitted expression             (cygen.kernels)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import PurePath

import sympy as sp

from cygen.compiler import syntax as S
from cygen.compiler.analysis.configuration import configuration_matrix
from cygen.compiler.analysis.fubini_study import ambient_metric
from cygen.compiler.analysis.moduli import analyse_moduli
from cygen.compiler.analysis.patches import chart_count, enumerate_charts
from cygen.compiler.analysis.singular import find_singular_point
from cygen.compiler.analysis.slices import slice_types
from cygen.compiler.analysis.symmetries import analyse_symmetry
from cygen.compiler.analysis.topology import compute_topology
from cygen.compiler.analysis.volume_form import admissible_dependent_sets, jacobian_matrix
from cygen.compiler.ir import ManifoldIR
from cygen.compiler.kernels import make_kernel
from cygen.compiler.lower import lower
from cygen.core.errors import CygenError

MAX_SUBSETS = 2_000_000  # K-subsets of the coordinates tested for admissibility
MAX_CHARTS = 50_000  # charts tabulated in a generated module
NEAREST_STEPS = ("1/100", "-1/100", "1/50", "-1/50", "1/20", "-1/20", "1/10", "-1/10")


def source_hash(source: str, overrides: Mapping[str, sp.Expr] | None = None) -> str:
    """SHA-256 of the source text plus any parameter overrides (a stable identity)."""
    text = source
    for key in sorted(overrides or {}):
        text += f"\n#--param {key}={sp.srepr(overrides[key])}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def nearest_smooth_member(program: S.Program, overrides: Mapping[str, sp.Expr] | None,
                          params, coords, sizes) -> tuple[str, sp.Expr] | None:
    """(parameter, value) of the nearest smooth member of a singular member's family: each
    declared parameter moved in turn by the steps of ``NEAREST_STEPS`` (the smallest first,
    up before down), the first member in which the singular-point search of
    :mod:`cygen.compiler.analysis.singular` finds nothing; None without parameters or when
    no step gives a smooth member."""
    for step in NEAREST_STEPS:
        for name, value in params:
            moved = {**(overrides or {}), name: value + sp.Rational(step)}
            model = lower(program, moved)
            if find_singular_point(model.equations, coords, sizes,
                                   source_hash(program.source, moved)) is None:
                return name, moved[name]
    return None


def analyse(
    program: S.Program,
    overrides: Mapping[str, sp.Expr] | None = None,
    *,
    allow_non_cy: bool = False,
    deformations: str = "declared",
) -> ManifoldIR:
    """Run every analysis; raises :class:`cygen.errors.CygenError` on bad input.
    ``deformations``: the moduli differentiated in, ``"declared"`` parameters or ``"all"``
    polynomial deformations (:mod:`cygen.compiler.analysis.moduli`)."""
    model = lower(program, overrides)
    try:
        matrix = configuration_matrix(model, allow_non_cy=allow_non_cy)
    except Exception as exc:
        if isinstance(exc, CygenError) and exc.filename is None:
            raise exc.located(program.filename, program.source) from None
        raise
    coords = tuple(c for f in model.factors for c in f.coords)
    conj = tuple(sp.Symbol(f"{c}_bar") for c in coords)
    n, k = len(coords), len(model.equations)

    jac = jacobian_matrix(model.equations, coords)
    if math.comb(n, k) > MAX_SUBSETS:
        raise CygenError(f"{math.comb(n, k):,} candidate sets of {k} dependent coordinates "
                         f"among {n} exceed cygen's limit of {MAX_SUBSETS:,} (every chart is "
                         "tabulated: docs/charts.md)", filename=program.filename)
    dependent_sets = admissible_dependent_sets(model.equations, coords)
    count = chart_count(model.factors, dependent_sets)
    if count > MAX_CHARTS:
        raise CygenError(f"{count:,} charts exceed cygen's limit of {MAX_CHARTS:,} (every chart "
                         "is tabulated: docs/charts.md)", filename=program.filename)
    charts = enumerate_charts(model.factors, dependent_sets)
    topology = compute_topology([f.dim for f in model.factors], matrix)
    digest = source_hash(program.source, overrides)
    sizes = [f.dim + 1 for f in model.factors]
    singular = find_singular_point(model.equations, coords, sizes, digest)
    nearest = (None if singular is None
               else nearest_smooth_member(program, overrides, model.params, coords, sizes))

    return ManifoldIR(
        name=model.name,
        source_name=PurePath(program.filename).name,  # location-independent bytes
        source_hash=digest,
        factors=model.factors,
        coords=coords,
        conj_coords=conj,
        params=model.params,
        kahler=model.kahler,
        configuration=matrix,
        dimension=topology.dimension,
        equations=make_kernel("equations", model.equations, (k,), conj),
        jacobian=make_kernel("jacobian", list(jac), (k, n), conj),
        fs_ambient=make_kernel(
            "fs_ambient", ambient_metric(model.factors, coords, conj, model.kahler), (n, n), conj
        ),
        charts=charts,
        topology=topology,
        slices=slice_types([f.dim for f in model.factors], matrix),
        symmetry=analyse_symmetry(model.factors, coords, model.equations, model.kahler, charts),
        singular_point=None if singular is None else tuple(complex(x) for x in singular),
        nearest_smooth=nearest,
        moduli=analyse_moduli(model.params, model.param_derivatives, model.equations, coords,
                              conj, model.factors, deformations),
    )
