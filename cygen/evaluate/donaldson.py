"""``cygen donaldson``'s table: sigma_k (and the Ricci measure) of balanced metrics k = 1, 2, ...

The balanced metrics themselves are :mod:`cygen.learn.donaldson`'s; this sweep evaluates each
on fresh points (and, optionally, its curvature), so it lives with the other evaluations.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from cygen.compiler.loader import as_module
from cygen.evaluate.integrals import curvature_summary
from cygen.learn.donaldson import MAX_ITERATIONS, TOLERANCE, balanced, sigma
from cygen.learn.runs import check_run_directory
from cygen.sampling.sampler import sample

__all__ = ["table"]


def table(source_or_module, ks: Sequence[int], *, points: int | None = None,
          eval_points: int = 20_000, ricci_points: int = 0, seed: int = 0,
          max_iterations: int = MAX_ITERATIONS, tol: float = TOLERANCE,
          progress: Callable[[dict], None] | None = None,
          out_dir: str | Path | None = None, overwrite: bool = False) -> list[dict]:
    """sigma_k (and optionally the Ricci measure) for each k, on ``eval_points`` fresh points
    (the seed's ``donaldson-eval`` stream; the T-operator's points come from its
    ``donaldson`` stream, :mod:`cygen.core.seeds`).  ``out_dir``: save each as OUT/k{k}."""
    module = as_module(source_or_module)
    for k in ks if out_dir is not None else ():  # refuse before computing anything
        check_run_directory(Path(out_dir) / f"k{k}", overwrite)
    fresh = sample(module, eval_points, seed, purpose="donaldson-eval")
    rows = []
    for k in ks:
        if progress is not None:
            progress({"event": "start", "k": k})
        metric = balanced(module, k, points=points, seed=seed, max_iterations=max_iterations,
                          tol=tol, progress=progress)
        t0 = time.perf_counter()
        row = {"k": k, "degree": list(metric.degree), **metric.info,
               "sigma": sigma(metric, fresh), "eval_points": eval_points,
               "final_change": metric.history[-1]["change"]}
        row["seconds_sigma"] = round(time.perf_counter() - t0, 3)
        if ricci_points:
            curv = curvature_summary(module, metric_fn=metric,
                                     data=fresh.subset(slice(0, ricci_points)))
            row["ricci_measure"] = curv["ricci_measure"]
        if out_dir is not None:
            metric.save(Path(out_dir) / f"k{k}", {"sigma": row["sigma"],
                                                  "ricci": row.get("ricci_measure")},
                        overwrite=overwrite)
        if progress is not None:
            progress({"event": "done", **row})
        rows.append(row)
    return rows
