"""``cygen compile`` and ``cygen info``: the compiler's commands (they never import jax)."""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import AllowOpt, ParamOpt, guarded, out
from cygen.core.errors import CygenError

__all__ = ["info_dict", "register"]


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
) -> None:
    """Compile a .cy file into an importable JAX module.

    Examples:

      cygen compile manifolds/fermat_quintic.cy -o quintic.py

      cygen compile manifolds/dwork_quintic.cy --param psi=0.1+0.2i -o dwork.py

      cygen compile manifolds/tian_yau.cy --emit ir
    """
    from cygen.compiler.ir import describe
    from cygen.compiler.pipeline import compile_file
    from cygen.compiler.syntax import dump
    from cygen.core.io import atomic_write

    result = compile_file(source, param, allow_non_cy=allow_non_cy)
    if emit is Emit.ast:
        sys.stdout.write(dump(result.program) + "\n")
        return
    if emit is Emit.ir:
        sys.stdout.write(describe(result.ir) + "\n")
        return
    if emit is Emit.code:
        sys.stdout.write(result.code)
        return
    target = output or Path(f"{source.stem}.py")
    try:
        atomic_write(target, result.code)
    except OSError as exc:
        raise CygenError(f"cannot write {target}: {exc}") from None
    ir = result.ir
    out.print(
        f"wrote [bold]{target}[/]: {ir.name}, dimension {ir.dimension}, "
        f"{len(ir.charts.charts)} charts, chi = {ir.topology.euler}"
    )


def info_dict(result) -> dict:
    """The JSON document printed by ``cygen info --json``: the facts the generated module's
    SPEC states (the same function computes both), plus the factors' coordinate names."""
    from cygen.compiler.generate import spec

    ir, facts = result.ir, spec(result.ir)
    return {
        "name": facts["name"],
        "source": facts["source"],
        "ambient": facts["ambient"],
        "coordinates": [[str(c) for c in f.coords] for f in ir.factors],
        "dimension": facts["dimension"],
        "configuration": facts["configuration"],
        "params": facts["params_exact"],
        "kahler": [str(t) for t in ir.kahler],
        "n_charts": len(facts["charts"]),
        "euler": facts["euler"],
        "intersection_numbers": {
            ",".join(map(str, k)): v for k, v in facts["intersection_numbers"].items()
        },
        "c2_dot_J": facts["c2_dot_J"],
        "volume": facts["volume_exact"],
        "source_hash": facts["source_hash"],
        "symmetry_order": facts["symmetry_order"],
        "symmetry_generators": [{**g, "phase_denominator": facts["symmetry_phase_denominator"]}
                                for g in facts["symmetry_generators"]],
        "n_patch_classes": len(facts["patch_classes"]),
        "patch_classes": facts["patch_classes"],
        "n_seed_patch_classes": len(facts["seed_patch_classes"]),
        "seed_patch_classes": facts["seed_patch_classes"],
    }


def info(
    source: Annotated[Path, typer.Argument(help="The .cy file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    param: ParamOpt = None,
    allow_non_cy: AllowOpt = False,
) -> None:
    """Show a manifold's configuration, charts and topology.

    Examples:

      cygen info manifolds/tian_yau.cy

      cygen info manifolds/fermat_quintic.cy --json
    """
    from cygen.compiler.pipeline import compile_file

    data = info_dict(compile_file(source, param, allow_non_cy=allow_non_cy))
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
        ("patch classes", f"{data['n_patch_classes']} (sizes "
                          f"{', '.join(str(len(c)) for c in data['patch_classes'])}); "
                          f"seed's pattern view: {data['n_seed_patch_classes']}"),
    ]
    out.print(table(f"{data['name']}  ({data['source']})", rows))


def register(app: typer.Typer) -> None:
    """Add ``compile`` and ``info`` to ``app``."""
    app.command("compile")(guarded(compile_cmd))
    app.command("info")(guarded(info))
