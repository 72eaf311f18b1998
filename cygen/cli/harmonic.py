"""``cygen harmonic``: harmonic representatives of the Kodaira-Spencer classes for a metric
(Fubini-Study, a balanced metric or a trained network) and the Weil-Petersson metric they
give, beside the metric-free one."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import ParamOpt, enable_jax_cache, guarded, out, table
from cygen.cli.compile import DeformationMode
from cygen.core.errors import CygenError

__all__ = ["register"]


def harmonic_cmd(
    source: Annotated[Path, typer.Argument(
        help="A .cy file (Fubini-Study metric) or a run directory (its metric).")],
    param: ParamOpt = None,
    deformations: Annotated[DeformationMode, typer.Option(
        help="declared: the file's params; all: also a basis of the polynomial "
             "deformations (.cy files).")] = DeformationMode.declared,
    n: Annotated[int, typer.Option("-n", "--points", help="Evaluation points.", min=1)
                 ] = 20_000,
    fit_points: Annotated[int, typer.Option(help="Points of the least-squares fit.", min=1)
                          ] = 20_000,
    degree: Annotated[int, typer.Option(
        help="Degree k of the sections' coefficient functions (contains k - 1).", min=0)] = 1,
    objective: Annotated[str, typer.Option(
        help="residual: least squares of the codifferential; norm: of the L2 norm.")
    ] = "residual",
    sections: Annotated[str, typer.Option(
        help="basis: the polynomial sections only; network: then a section network trained "
             "on top of the basis solution (same objective, held-out stopping rule).")
    ] = "basis",
    epochs: Annotated[int, typer.Option(
        help="Most epochs of the section network (it stops earlier when the held-out "
             "objective stalls).", min=1)] = 200,
    width: Annotated[int, typer.Option(help="Section network: hidden width.", min=1)] = 64,
    depth: Annotated[int, typer.Option(help="Section network: hidden layers.", min=1)] = 2,
    symmetric: Annotated[bool, typer.Option(
        help="Only sections of each deformation's phase charge.")] = True,
    seed: Annotated[int, typer.Option(help="Random seed.", min=0)] = 0,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write the JSON here.")
                      ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Harmonic Kodaira-Spencer representatives and their Weil-Petersson metric.

    For each deformation, eta = mu + dbar s with s in a basis of smooth sections of T_X
    (and, with --sections network, a network section on top) fitted on one sample,
    G_harm = ∫<eta_a, eta_b>_g dvol_g / Vol on an independent one, beside the metric-free G
    on the same points, and their ratio with its own (much smaller) error bar
    (docs/moduli.md#harmonic-forms).

    Examples:

    \b
      cygen harmonic manifolds/p5_33_family.cy --degree 1
      cygen harmonic manifolds/p5_33_family.cy --sections network --epochs 100
      cygen harmonic runs/quintic --json
    """
    if output is not None and output.exists() and not overwrite:
        raise CygenError(f"{output} exists: pass --overwrite to replace it")
    if objective not in ("residual", "norm"):
        raise CygenError(f"--objective is residual or norm, got {objective!r}")
    if sections not in ("basis", "network"):
        raise CygenError(f"--sections is basis or network, got {sections!r}")
    network = ({"hidden": (width,) * depth, "epochs": epochs} if sections == "network"
               else None)
    enable_jax_cache()
    from cygen.core.io import write_json
    from cygen.evaluate import harmonic as hm

    module, metric, label = hm.metric_source(source, param, str(deformations))
    result = hm.harmonic(module, metric, n_fit=fit_points, n_eval=n, seed=seed, degree=degree,
                         symmetric=symmetric, objective=objective, network=network)
    result = {"name": module.SPEC["name"], "metric": label} | result
    if output is not None:
        write_json(output, result)
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        _print(result)


def _print(result: dict) -> None:
    rows = [("metric", f"{result['metric']}, sigma {result['sigma']:.4g}")]
    g_h, g_h_err = result["wp_metric_harmonic"]["re"], result["wp_metric_harmonic_err"]
    g, g_err = result["wp_metric"]["re"], result["wp_metric_err"]
    for a in range(min(len(g), 6)):
        rows.append((f"G[{a},{a}] harmonic / metric-free",
                     f"{g_h[a][a]:.6g} ± {g_h_err[a][a]:.2g} / {g[a][a]:.6g} ± {g_err[a][a]:.2g}"))
        lift, lift_err = result["wp_metric_harmonic_lift"]["re"], \
            result["wp_metric_harmonic_lift_err"]
        rows.append((f"G[{a},{a}] metric-free, fitted lift", f"{lift[a][a]:.6g} ± "
                     f"{lift_err[a][a]:.2g}"))
        rows.append((f"G_harm/G - 1 [{a}] (same points)",
                     f"{result['relative_difference'][a]:+.4%} ± "
                     f"{result['relative_difference_err'][a]:.2%}"))
        rows.append((f"residual[{a}] harmonic / KS",
                     f"{result['residual'][a]:.3g} / {result['residual_ks'][a]:.3g}"))
    unknowns = sum(grp["unknowns"] for grp in result["groups"])
    rows.append(("sections", f"degree {result['degree']}, {unknowns} unknowns"))
    for grp in result["groups"]:
        if "network" in grp:
            net = grp["network"]
            rows.append((f"section network {grp['directions']}",
                         f"held-out objective {net['start']:.4g} -> {net['best']:.4g}, "
                         f"{net['epochs']} epochs ({net['stopped']})"))
    rows += [
             ("points", f"{result['fit_points']} fit + {result['eval_points']} evaluation")]
    out.print(table(f"harmonic forms on {result['name']}", rows))


def register(app: typer.Typer) -> None:
    """Add ``harmonic`` to ``app``."""
    app.command("harmonic")(guarded(harmonic_cmd))
