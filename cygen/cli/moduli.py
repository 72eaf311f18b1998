"""``cygen moduli``: the Weil-Petersson metric and Yukawa couplings of complex-structure
moduli (metric-free: exact points, their weights and Omega)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import ParamOpt, enable_jax_cache, fmt, guarded, out, table
from cygen.cli.compile import DeformationMode
from cygen.core.errors import CygenError

__all__ = ["parse_scan", "register"]


_COMPLEX = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[-+](?:\d+\.?\d*|\.\d+)i)?i?"
_SCAN = re.compile(rf"^\s*(\w+)\s*=\s*({_COMPLEX})\s*\.\.\s*({_COMPLEX})\s*$")


def _complex(text: str) -> complex:
    return complex(text.replace("i", "j"))


def parse_scan(text: str) -> tuple[str, complex, complex]:
    """``"psi=0..0.9"`` or ``"psi=0..0.5+0.5i"`` -> (name, start, end)."""
    match = _SCAN.match(text)
    if match is None:
        raise CygenError(f"--scan expects NAME=A..B (A, B numbers such as 0.1 or 0.2+0.3i), "
                         f"got {text!r}")
    try:
        return match.group(1), _complex(match.group(2)), _complex(match.group(3))
    except ValueError:
        raise CygenError(f"--scan: cannot read the numbers of {text!r}") from None


def moduli_cmd(
    source: Annotated[Path, typer.Argument(help="The .cy file (its params are the moduli).")],
    param: ParamOpt = None,
    deformations: Annotated[DeformationMode, typer.Option(
        help="declared: the file's params; all: also a basis of the polynomial "
             "deformations.")] = DeformationMode.declared,
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.", min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    yukawa: Annotated[str, typer.Option(
        help="auto (whole tensor up to 30 directions), all, none, or triples "
             "'a,b,c;...' (indices or names).")] = "auto",
    check: Annotated[bool, typer.Option(
        help="Also the second route: finite differences of log ∫|Ω|² (declared params).")
    ] = False,
    step: Annotated[float, typer.Option(help="Step of the finite differences.")] = 1e-2,
    scan: Annotated[str | None, typer.Option(
        help="NAME=A..B: G and λ along a segment of one declared parameter (needs --out).")
    ] = None,
    steps: Annotated[int, typer.Option(help="Points of the --scan segment.", min=2)] = 10,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON here.")
                      ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Weil-Petersson metric and Yukawa couplings of the complex-structure moduli.

    The Kodaira-Spencer route on exact points (errors: jackknife over 20 groups);
    --check adds finite differences of log ∫|Ω|² on shared random slices (docs/moduli.md).

    Examples:

    \b
      cygen moduli manifolds/dwork_quintic.cy --param psi=0 -n 200000
      cygen moduli manifolds/dwork_quintic.cy --check --json
      cygen moduli manifolds/tian_yau.cy --deformations all -n 100000 --out ty.json
      cygen moduli manifolds/dwork_quintic.cy --scan psi=0..0.9 --steps 10 --out scan.json
    """
    if output is not None and output.exists() and not overwrite:
        raise CygenError(f"{output} exists: pass --overwrite to replace it")
    if scan is not None and output is None:
        raise CygenError("--scan writes its table to --out FILE.json: give one")
    enable_jax_cache()
    from cygen.core.io import write_json
    from cygen.evaluate import moduli as md

    if scan is not None:
        name, start, end = parse_scan(scan)
        result = md.scan(source, name, start, end, steps, n=n, seed=seed, params=param)
    else:
        result = md.moduli(source, n=n, seed=seed, params=param, deformations=str(deformations),
                           yukawa=yukawa)
        if check:
            values = {k: complex(*v) for k, v in result["values"].items()
                      if k in result["params"][: result["declared"]]}
            result["finite_differences"] = md.finite_differences(source, values, n=n, seed=seed,
                                                                 h=step, params=param)
    if output is not None:
        write_json(output, result)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    elif scan is None:
        _print(result)
    else:
        out.print(f"wrote [bold]{output}[/]: {len(result['rows'])} points of {scan}")


def _matrix(m: dict, err: list | None = None) -> str:
    rows = []
    for i, (re_row, im_row) in enumerate(zip(m["re"], m["im"], strict=True)):
        cells = [f"{a:.5g}{b:+.3g}i" if abs(b) > 1e-12 else f"{a:.5g}"
                 for a, b in zip(re_row, im_row, strict=True)]
        if err is not None:
            cells = [f"{c} ± {e:.2g}" for c, e in zip(cells, err[i], strict=True)]
        rows.append("  ".join(cells))
    return "\n".join(rows)


def _print(result: dict) -> None:
    names = result["params"]
    small = len(names) <= 6
    rows = [("directions", ", ".join(names) if small else f"{len(names)} ({names[0]}, ...)"),
            ("polynomial deformations", str(result["polynomial_deformations"]))]
    if small:
        rows.append(("Weil-Petersson G", _matrix(result["wp_metric"], result["wp_metric_err"])))
    rows.append(("eigenvalues of G", ", ".join(f"{x:.4g}" for x in result["wp_eigenvalues"][:8])
                 + (" ..." if len(names) > 8 else "")))
    if "finite_differences" in result:
        fd = result["finite_differences"]
        rows.append(("G (finite differences)", _matrix(fd["wp_metric"], fd["wp_metric_err"])))
    if "yukawa_normalised" in result and small:
        lam, lam_err = result["yukawa_normalised"], result["yukawa_normalised_err"]
        cells = [f"λ[{a},{b},{c}] = {fmt(lam[a][b][c])} ± {lam_err[a][b][c]:.2g}"
                 for a in range(len(names)) for b in range(a, len(names))
                 for c in range(b, len(names))]
        rows.append(("normalised Yukawa", "\n".join(cells[:10])))
    for comp in result.get("yukawa_components", []):
        rows.append((f"λ{tuple(comp['indices'])}",
                     f"{fmt(comp['normalised'])} ± {comp['normalised_err']:.2g}"))
    rows += [("points", str(result["points"])),
             ("points/s", f"{result['points_per_second']:.0f}")]
    out.print(table(f"moduli of {result['name']}", rows))


def register(app: typer.Typer) -> None:
    """Add ``moduli`` to ``app``."""
    app.command("moduli")(guarded(moduli_cmd))
