"""``cygen survey LIST.json``: sigma_FS and chi over many CICYs (:mod:`cygen.survey`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import err, guarded, out


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    return int(index), int(count or 1)


def register(app: typer.Typer) -> None:
    """Add ``survey`` to ``app``."""

    @app.command()
    @guarded
    def survey(
        cicy_list: Annotated[Path | None, typer.Argument(
            help="A CICY list (.json or .json.gz); default: the 7890 CICYs shipped with "
                 "cygen.")] = None,
        out_dir: Annotated[Path, typer.Option("--out", help="Writes OUT/results.jsonl.")] = Path(
            "survey"),
        ids: Annotated[str | None, typer.Option(
            help="Comma-separated ids (default: the whole list).")] = None,
        points: Annotated[int, typer.Option(help="Points per manifold.")] = 10_000,
        seed: Annotated[int, typer.Option(help="Seed of the equations and the sampling.",
                                          min=0)] = 0,
        workers: Annotated[int, typer.Option(
            help="Manifolds at once, one process each (0: in this process).")] = 1,
        devices: Annotated[int, typer.Option(
            help="Devices per manifold (0: all local devices).")] = 1,
        timeout: Annotated[float | None, typer.Option(
            help="Seconds per manifold before its worker is killed (a 'timeout' row).")] = None,
        limit: Annotated[int | None, typer.Option(help="At most this many manifolds.")] = None,
        random: Annotated[int | None, typer.Option(
            help="This many entries drawn at random (fixed by --seed) instead of all.",
            min=1)] = None,
        shard: Annotated[str, typer.Option(
            help="I/N: only every N-th entry from the I-th (independent processes or hosts).")
        ] = "0/1",
        retry_errors: Annotated[bool, typer.Option(
            help="Redo manifolds whose row is an error or timeout.")] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Compile, sample and evaluate sigma_FS and chi for many configuration matrices.

        One JSON row per manifold is appended to OUT/results.jsonl (id, sigma_fs, chi_mc,
        chi_err, chi_topological, timings, ...); ids already there are skipped, so an
        interrupted survey resumes.  Product configurations are 'skipped' rows; failures are
        'error' rows.

        Examples:

        \b
          cygen survey --ids 7890,7884,536 --points 5000 --out survey
          cygen survey --random 300 --seed 0 --points 20000 --workers 2 --out survey
          cygen survey my_list.json --timeout 900 --out survey
        """
        from cygen.core.errors import CygenError
        from cygen.evaluate import survey as sv

        entries = sv.load_list(cicy_list)
        try:
            chosen = sv.select(entries, [int(x) for x in ids.split(",")] if ids else None,
                               limit, _shard(shard), random=random, seed=seed)
        except (ValueError, KeyError) as exc:
            raise CygenError(f"--ids/--shard: {exc}") from None
        if points <= 0:
            raise CygenError(f"--points must be positive, got {points}")

        def progress(row: dict) -> None:
            if row["status"] == "ok":
                err.print(f"#{row['id']}: sigma_fs={row['sigma_fs']:.4f}  chi={row['chi_mc']:.1f}"
                          f" ± {row['chi_err']:.1f} (topological {row['chi_topological']})  "
                          f"{row['timings']['total_s']:.0f} s")
            else:
                err.print(f"#{row['id']}: {row['status']}: {row.get('error', '')}")

        counts = sv.run(chosen, out_dir, points, seed=seed, workers=workers, devices=devices,
                        timeout=timeout, retry_errors=retry_errors, progress=progress)
        counts["results"] = str(out_dir / sv.RESULTS)
        if as_json:
            sys.stdout.write(json.dumps(counts, indent=2) + "\n")
            return
        out.print(", ".join(f"{k}: {v}" for k, v in counts.items()))
