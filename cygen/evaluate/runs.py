"""``cygen eval RUN``: a trained run's measures, in float64, on fresh points.

"Fresh" is checked, not assumed: evaluation points come from the run seed's ``eval`` stream
(``cygen.core.seeds``), given points must be of the run's manifold, and every evaluation
point is compared with the run's training points; an overlap is refused.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cygen.compiler.loader import identity, same_manifold
from cygen.core.errors import CygenError
from cygen.core.io import jsonable
from cygen.learn import losses
from cygen.learn.data import run_dataset, split
from cygen.learn.evaluation import VALIDATION_TERMS, cached_evaluator, final_metrics
from cygen.learn.runs import Run, load_run
from cygen.sampling.dataset import Dataset, fingerprints, recorded_identity
from cygen.sampling.sampler import sample

__all__ = ["evaluate_run", "training_overlap"]


def evaluate_run(run_dir: str | os.PathLike, points: int = 10_000, seed: int | None = None,
                 *, data: str | os.PathLike | None = None, config: dict | None = None) -> dict:
    """Evaluate a trained run in float64 on fresh points (``cygen eval``).

    The points are the ``eval`` stream of ``seed``, so they are never the training points
    (points shared with the run's training set are refused).

    Parameters
    ----------
    run_dir : str or os.PathLike
        A run directory.
    points : int, optional
        How many fresh points to draw.
    seed : int, optional
        The seed of the ``eval`` stream (default: the run's seed).
    data : str or os.PathLike, optional
        An ``.npz`` of the run's manifold to evaluate on instead (checked by provenance).
    config : dict, optional
        Overrides of the run's ``eval`` settings, such as ``{"ricci_points": 1000}``.

    Returns
    -------
    dict
        The measures of ``metrics.json`` (``sigma``, ``sigma_fs``, ``kahler``,
        ``transition``, ``ricci``, volume and slopes) plus ``points``, ``seed``,
        ``points_sha256`` (of the evaluation points) and ``overlap_checked`` (False when
        the run's training points are gone).

    Raises
    ------
    cygen.core.errors.CygenError
        For points of another manifold, or shared with the training set.

    Examples
    --------
    >>> import os, tempfile, cygen
    >>> run_dir = os.path.join(tempfile.mkdtemp(), "torus")
    >>> config = {"model": {"widths": [8]}, "batch_size": 32,
    ...           "eval": {"kahler_points": 0, "ricci_points": 0}}
    >>> _ = cygen.train("manifolds/torus.cy", run_dir, points=128, epochs=1, config=config)
    >>> result = cygen.evaluate_run(run_dir, points=100)
    >>> result["points"], result["overlap_checked"], result["sigma"] > 0
    (100, True, True)
    """
    run = load_run(run_dir)
    seed = int(run.config["seed"]) if seed is None else int(seed)
    if data is not None:
        ds = Dataset.load(data)
        same_manifold(identity(run.module.SPEC), recorded_identity(ds.metadata), str(data),
                      f"the run {run.path}")
    else:
        ds = sample(run.module, int(points), seed, purpose="eval")
    prints = fingerprints(ds.points)
    shared, checked = training_overlap(run, prints)
    if shared:
        raise CygenError(f"{shared} of the {len(ds)} evaluation points are training points of "
                         f"the run {run.path}: evaluate on points it has not seen",
                         filename=str(data) if data is not None else None)
    geo = run.module.GEOMETRY
    cfg = {**run.config, "eval": {**run.config["eval"], **(config or {})}}
    pts = losses.prepare(run.model, geo, VALIDATION_TERMS, ds)
    out = final_metrics(cached_evaluator(run.model, geo, cfg), run.params, pts,
                        run.module.SPEC, cfg["eval"])
    out |= {"points": len(ds), "seed": None if data is not None else seed,
            "data": None if data is None else str(data), "run": str(run.path),
            "model": run.config["model"]["name"], "name": run.module.SPEC["name"],
            "points_sha256": hashlib.sha256(b"".join(sorted(prints))).hexdigest(),
            "overlap_checked": checked}
    return jsonable(out)


def training_overlap(run: Run, prints: set[bytes]) -> tuple[int, bool]:
    """(how many of ``prints`` are training points of ``run``, whether it could be checked:
    False when the run's point file is gone, a Balanced metric, ...)."""
    cfg = run.config
    if not cfg.get("data"):
        return 0, False
    path = Path(cfg["data"])
    if not (path if path.is_absolute() else Path(run.path) / path).exists():
        return 0, False
    ds = run_dataset(Path(run.path), cfg)
    train_idx, _ = split(len(ds), int(cfg["seed"]), float(cfg["val_fraction"]))
    return len(prints & fingerprints(ds.points[train_idx])), True
