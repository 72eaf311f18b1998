"""``cygen sample``: exact points with Monte-Carlo weights, streamed to an ``.npz``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import DevicesOpt, ParamOpt, enable_jax_cache, existing, guarded, out, table
from cygen.core.errors import CygenError

__all__ = ["register"]


def sample(
    source: Annotated[Path, typer.Argument(help="A .cy file or a generated module (.py).")],
    n: Annotated[int, typer.Option("-n", "--points", help="Number of points.")] = 100_000,
    output: Annotated[Path, typer.Option("-o", "--output", help="The .npz to write.")] = Path(
        "points.npz"
    ),
    seed: Annotated[int, typer.Option(help="Random seed (results are deterministic).", min=0)] = 0,
    param: ParamOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    devices: DevicesOpt = 1,
    overwrite: Annotated[bool, typer.Option(
        help="Replace an existing output file (refused otherwise).")] = False,
) -> None:
    """Sample points on the manifold with exact Monte-Carlo weights.

    Writes an .npz with points, weights, omega_sq, chart and metadata, and prints the
    FS sigma measure and a volume self-test of the measure.

    Examples:

    \b
      cygen sample manifolds/fermat_quintic.cy -n 200000 -o quintic.npz
      cygen sample manifolds/tian_yau.cy -n 50000 -o ty.npz --seed 1 --json
    """
    if n <= 0:
        raise CygenError(f"-n must be positive, got {n}")
    existing(source)
    if output.exists() and not overwrite:
        raise CygenError("exists; use --overwrite to replace it", filename=str(output))
    from cygen.compiler.loader import load

    module = load(source, param)
    summary = _draw(module, n, seed, output, devices)
    summary["output"] = str(output)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    sigmas = (summary["volume_fs_mc"] - summary["volume_fs_exact"]) / max(
        summary["volume_fs_err"], 1e-300)
    out.print(table(f"sampled {summary['name']} -> {output}", [
        ("points", f"{summary['n']}"),
        ("points/s", f"{summary['points_per_second']:.0f} (JIT compilation included)"),
        ("max residual", f"{summary['max_residual']:.2e}"),
        ("sigma (FS)", f"{summary['sigma_fs']:.4f}"),
        ("volume (FS), MC", f"{summary['volume_fs_mc']:.6g} ± {summary['volume_fs_err']:.2g}"),
        ("volume (FS), exact", f"{summary['volume_fs_exact']:.6g}  ({sigmas:+.1f} s.e.)"),
        ("slices discarded", f"{summary['slices_discarded']}"),
    ]))


def _draw(module, n: int, seed: int, output: Path, devices: int) -> dict:
    """Stream ``n`` points into ``output`` (process 0 writes) with the progress bar."""
    enable_jax_cache()
    from cygen.core.progress import Progress
    from cygen.geometry.scale import primary
    from cygen.sampling.dataset import NpzWriter, NullWriter
    from cygen.sampling.sampler import draw, metadata

    with (Progress() as bar,
          (NpzWriter if primary() else NullWriter)(output, n, len(module.SPEC["coordinates"]))
          as writer):
        bar.task(f"sampling {module.SPEC['name']}", total=n)
        summary = draw(module, n, seed, writer.write, progress=bar.advance, devices=devices)
        writer.metadata = metadata(module, seed, n) | {"summary": summary}
    return summary


def register(app: typer.Typer) -> None:
    """Add ``sample`` to ``app``."""
    app.command("sample")(guarded(sample))
