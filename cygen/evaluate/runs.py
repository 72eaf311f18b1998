"""``cygen eval RUN``: a trained run's measures, in float64, on fresh points."""

from __future__ import annotations

import os

from cygen.core.io import jsonable
from cygen.learn import losses
from cygen.learn.evaluation import VALIDATION_TERMS, cached_evaluator, final_metrics
from cygen.learn.runs import load_run
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

__all__ = ["evaluate_run"]


def evaluate_run(run_dir: str | os.PathLike, points: int = 10_000, seed: int | None = None,
                 *, data: str | os.PathLike | None = None, config: dict | None = None) -> dict:
    """Evaluate a trained run in float64 on ``points`` fresh points sampled with ``seed``
    (default: the run's seed + 1), or on the points of ``data`` (an ``.npz``).

    Returns the measures of ``metrics.json`` (``config`` may override ``eval`` settings such
    as ``ricci_points``) plus ``points`` and ``seed``.
    """
    run = load_run(run_dir)
    seed = int(run.config["seed"]) + 1 if seed is None else int(seed)
    ds = Dataset.load(data) if data is not None else sample(run.module, int(points), seed)
    geo = run.module.GEOMETRY
    cfg = {**run.config, "eval": {**run.config["eval"], **(config or {})}}
    pts = losses.prepare(run.model, geo, VALIDATION_TERMS, ds)
    out = final_metrics(cached_evaluator(run.model, geo, cfg), run.params, pts,
                        run.module.SPEC, cfg["eval"])
    out |= {"points": len(ds), "seed": None if data is not None else seed,
            "data": None if data is None else str(data), "run": str(run.path),
            "model": run.config["model"]["name"], "name": run.module.SPEC["name"]}
    return jsonable(out)
