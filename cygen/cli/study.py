"""``cygen study NAME``: the seed's experiments as scripted studies (:mod:`cygen.studies`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cygen.cli.common import enable_jax_cache, err, guarded, out


def register(app: typer.Typer) -> None:
    """Add ``study`` to ``app``."""

    @app.command()
    @guarded
    def study(
        name: Annotated[str, typer.Argument(help="Study name; `cygen study list` lists them.")],
        out_dir: Annotated[Path, typer.Option("--out", help="Directory for JSON and PNGs.")] = Path(
            "studies"),
        size: Annotated[str, typer.Option(help="small (seconds) or full (the docs' figures).")
                        ] = "full",
        as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    ) -> None:
        """Run one of the seed's experiments; writes OUT/NAME/NAME.json and its figures.

        Examples:

        \b
          cygen study list
          cygen study torus --out studies --size small
        """
        from cygen import studies
        from cygen.core.io import jsonable
        from cygen.core.progress import Progress

        if name == "list":
            for key, text in studies.STUDIES.items():
                out.print(f"[bold cyan]{key}[/]: {text}")
            return
        if name not in studies.STUDIES or size not in studies.SIZES:
            err.print(f"error: unknown study {name!r} or size {size!r}; studies: "
                      f"{', '.join(studies.STUDIES)}; sizes: {', '.join(studies.SIZES)}")
            raise typer.Exit(2)
        enable_jax_cache()
        from cygen.learn.trainer import progress_callback

        with Progress() as bar:
            result = studies.run(name, out_dir / name, size, progress=progress_callback(bar))
        if as_json:
            out.print_json(json.dumps(jsonable(result)))
            return
        files = ", ".join(result.get("figures", []))
        out.print(f"{name}: wrote {out_dir / name / (name + '.json')} and {files} "
                  f"in {result['wall_s']} s")
