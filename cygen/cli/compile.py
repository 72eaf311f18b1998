"""``cygen compile`` and ``cygen info``: the compiler's commands (they never import jax)."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import AllowOpt, ParamOpt, guarded, out, say
from cygen.core.errors import CygenError

__all__ = ["info_dict", "register"]


class DeformationMode(enum.StrEnum):
    declared = "declared"
    all = "all"


class Emit(enum.StrEnum):
    ast = "ast"
    ir = "ir"
    code = "code"


def compile_cmd(
    source: Annotated[Path, typer.Argument(help="The .cy file.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the module.")
    ] = None,
    param: ParamOpt = None,
    emit: Annotated[
        Emit | None, typer.Option(help="Print one stage (ast, ir or code) instead of writing.")
    ] = None,
    allow_non_cy: AllowOpt = False,
    deformations: Annotated[DeformationMode, typer.Option(
        help="The moduli dp_dt differentiates in: the declared params, or all polynomial "
             "deformations (docs/moduli.md).")] = DeformationMode.declared,
) -> None:
    """Compile a .cy file into an importable JAX module.

    Examples:

    \b
      cygen compile manifolds/fermat_quintic.cy -o quintic.py
      cygen compile manifolds/dwork_quintic.cy --param psi=0.1+0.2i -o dwork.py
      cygen compile manifolds/tian_yau.cy --deformations all -o tian_yau.py
      cygen compile manifolds/tian_yau.cy --emit ir
    """
    if emit is not None:
        _emit(source, param, allow_non_cy, emit, str(deformations))
        return
    from cygen.compiler.loader import compiled_path, read_spec
    from cygen.core.io import atomic_write, read_text

    # through the compile cache: the bytes are a function of the source, its path, the
    # overrides and the compiler, so a second compile (or one after ``cygen.load``) skips sympy
    code = read_text(compiled_path(source, param, allow_non_cy=allow_non_cy,
                                   deformations=str(deformations)))
    target = output or Path(f"{source.stem}.py")
    try:
        atomic_write(target, code)
    except OSError as exc:
        raise CygenError(f"cannot write {target}: {exc}") from None
    spec = read_spec(code)
    out.print(
        f"wrote [bold]{target}[/]: {spec['name']}, dimension {spec['dimension']}, "
        f"{len(spec['charts'])} charts, chi = {spec['euler']}"
    )


def _emit(source: Path, param, allow_non_cy: bool, emit: Emit, deformations: str) -> None:
    from cygen.compiler.ir import describe
    from cygen.compiler.pipeline import compile_file
    from cygen.compiler.syntax import dump

    result = compile_file(source, param, allow_non_cy=allow_non_cy, deformations=deformations)
    text = {Emit.ast: lambda: dump(result.program) + "\n",
            Emit.ir: lambda: describe(result.ir) + "\n", Emit.code: lambda: result.code}[emit]()
    sys.stdout.write(text)


def info_dict(facts: dict) -> dict:
    """The JSON document printed by ``cygen info --json``: the facts of the generated module's
    ``SPEC`` (``facts``; the compiler computes them once), the coordinates split by factor."""
    names, dims = facts["coordinates"], facts["ambient"]
    starts = [sum(d + 1 for d in dims[:a]) for a in range(len(dims))]
    return {
        "name": facts["name"],
        "source": facts["source"],
        "ambient": dims,
        "coordinates": [names[s : s + d + 1] for s, d in zip(starts, dims, strict=True)],
        "dimension": facts["dimension"],
        "configuration": facts["configuration"],
        "params": facts["params_exact"],
        "kahler": facts["kahler_exact"],
        "n_charts": len(facts["charts"]),
        "euler": facts["euler"],
        "intersection_numbers": {
            ",".join(map(str, k)): v for k, v in facts["intersection_numbers"].items()
        },
        "c2_dot_J": facts["c2_dot_J"],
        "volume": facts["volume_exact"],
        "source_hash": facts["source_hash"],
        "singular": facts["singular_point"] is not None,
        "singular_point": facts["singular_point"],
        "nearest_smooth_member": facts.get("nearest_smooth_member"),
        "symmetry_order": facts["symmetry_order"],
        "symmetry_generators": [{**g, "phase_denominator": facts["symmetry_phase_denominator"]}
                                for g in facts["symmetry_generators"]],
        "invariant_inputs": _invariant_inputs(facts),
        "n_patch_classes": len(facts["patch_classes"]),
        "patch_classes": facts["patch_classes"],
        "n_seed_patch_classes": len(facts["seed_patch_classes"]),
        "seed_patch_classes": facts["seed_patch_classes"],
        "moduli": facts["moduli"],
        "polynomial_deformations": facts["polynomial_deformations"],
        **_cicy_facts(facts),
    }


def _invariant_inputs(facts: dict) -> dict | None:
    """The inputs of ``model.symmetry = "invariant"``: largest degree and count (or None for
    a module that predates them)."""
    table = facts.get("symmetry_invariants")
    if table is None:
        return None
    return {"degree": table["degree"],
            "inputs": sum(1 if o["real"] else 2 for o in table["orbits"])}


def _cicy_facts(facts: dict) -> dict:
    """The shipped CICY list's entry for this configuration (threefolds), if it has one:
    its id and Hodge numbers, and how many deformations are not polynomial."""
    from cygen.core.cicy import find

    entry = find(facts["ambient"], facts["configuration"]) if facts["dimension"] == 3 else None
    if entry is None:
        return {"cicy_id": None, "h11": None, "h21": None, "non_polynomial_deformations": None}
    h21 = entry.get("h21")
    return {"cicy_id": entry["id"], "h11": entry.get("h11"), "h21": h21,
            "non_polynomial_deformations": None
            if h21 is None or facts["polynomial_deformations"] is None
            else h21 - facts["polynomial_deformations"]}


def info(
    source: Annotated[Path, typer.Argument(help="The .cy file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    param: ParamOpt = None,
    allow_non_cy: AllowOpt = False,
) -> None:
    """Show a manifold's configuration, charts and topology.

    Examples:

    \b
      cygen info manifolds/tian_yau.cy
      cygen info manifolds/fermat_quintic.cy --json
    """
    from cygen.compiler.loader import compiled_path, read_spec
    from cygen.core.io import read_text

    # the module's SPEC (with the polynomial deformations counted), through the compile
    # cache: a second info skips sympy
    spec = read_spec(read_text(compiled_path(source, param, allow_non_cy=allow_non_cy,
                                             deformations="all")))
    data = info_dict(spec)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    _print_info(data)


def _print_info(data: dict) -> None:
    from cygen.cli.common import table

    ambient = " x ".join(
        f"P{n}[{', '.join(c)}]" for n, c in zip(data["ambient"], data["coordinates"], strict=True)
    )
    generators = "\n".join(f"{g['perm']}; {g['phase']}/{g['phase_denominator']}"
                           for g in data["symmetry_generators"])
    rows = [
        ("ambient", ambient),
        ("configuration", "\n".join(" ".join(f"{d:2d}" for d in r) for r in data["configuration"])),
        ("dimension", str(data["dimension"])),
        ("parameters", ", ".join(f"{k} = {v}" for k, v in data["params"].items()) or "-"),
        ("Kähler moduli", ", ".join(data["kahler"])),
        ("charts", str(data["n_charts"])),
        ("Euler number", str(data["euler"])),
        ("intersections", ", ".join(f"d[{k}] = {v}" for k, v in
                                    data["intersection_numbers"].items() if v)),
        ("c2 . J", str(data["c2_dot_J"]) if data["c2_dot_J"] is not None else "-"),
        ("volume  ∫J^n/n!", data["volume"]),
        ("symmetry", f"order {data['symmetry_order']}, {len(data['symmetry_generators'])} "
                     "generators (perm; phase x 2πi/N):\n" + generators
         if data["symmetry_generators"] else "trivial"),
        ("invariants", "-" if data["invariant_inputs"] is None else
         f"{data['invariant_inputs']['inputs']} inputs up to degree "
         f"{data['invariant_inputs']['degree']} (model.symmetry = \"invariant\")"),
        ("deformations", _deformations_line(data)),
        ("patch classes", f"{data['n_patch_classes']} (sizes "
                          f"{', '.join(str(len(c)) for c in data['patch_classes'])}); "
                          f"seed's pattern view: {data['n_seed_patch_classes']}"),
    ]
    if data["singular"]:
        where = ", ".join(f"{re:.4g}{im:+.4g}i" for re, im in data["singular_point"])
        nearest = data["nearest_smooth_member"]
        smooth = ("" if nearest is None else f"; the nearest smooth member found: "
                  f"--param {nearest['param']}={nearest['value']}")
        rows.insert(0, ("SINGULAR", f"the Jacobian drops rank at z = ({where}): this member "
                        "is not a smooth Calabi-Yau; chi, the charts and the volume describe "
                        f"the smooth members of its family{smooth}"))
        say(f"warning: {data['source']}: singular at z = ({where})")
    out.print(table(f"{data['name']}  ({data['source']})", rows))


def _deformations_line(data: dict) -> str:
    line = f"{data['polynomial_deformations']} polynomial"
    if data["h21"] is None:
        return line
    line += f"; h21 = {data['h21']} (CICY #{data['cicy_id']}, h11 = {data['h11']})"
    extra = data["non_polynomial_deformations"]
    if extra and extra > 0:
        line += f": {extra} deformation(s) are not polynomial (not in the equations' coefficients)"
    elif extra:
        line += (f": {-extra} more monomials than h21, relations the quotient does not see "
                 "(extra automorphisms of this member, or polynomials vanishing on X that are "
                 "not combinations q p of the equations, as in determinantal configurations)")
    return line


def register(app: typer.Typer) -> None:
    """Add ``compile`` and ``info`` to ``app``."""
    app.command("compile")(guarded(compile_cmd))
    app.command("info")(guarded(info))
