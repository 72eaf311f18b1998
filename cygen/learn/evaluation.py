"""Float64 validation of a model: per-epoch measures and the final metrics of a run."""

from __future__ import annotations

import jax
import numpy as np

from cygen.geometry import batching
from cygen.geometry.measure import ricci_measure
from cygen.geometry.measure import sigma as measure_sigma
from cygen.learn import losses
from cygen.learn.models import Model, Params
from cygen.learn.step import TRACES, model_key

__all__ = ["VALIDATION_TERMS", "Evaluator", "cached_evaluator", "final_metrics", "validation"]

VALIDATION_TERMS = ("kahler", "transition", "volume")  # prepared for every validation set


class Evaluator:
    """Float64 per-point statistics in fixed-size chunks (each function compiled once)."""

    def __init__(self, model: Model, geo, chunk: int = 2048) -> None:
        self.model, self.geo, self.chunk = model, geo, chunk
        self._fns: dict = {}

    def _fn(self, name: str, terms: tuple[str, ...]):
        if (name, terms) not in self._fns:
            model, geo = self.model, self.geo

            def fn(params, pts):
                TRACES[name] += 1
                return losses.batch_stats(model, geo, terms, params, pts)

            self._fns[(name, terms)] = jax.jit(fn)
        return self._fns[(name, terms)]

    def stats(self, params: Params, pts: losses.Point, terms, name="val", chunk=None):
        """Per-point statistics of ``terms`` (numpy arrays), chunk by chunk."""
        fn = self._fn(name, tuple(sorted(terms)))
        return batching.padded_map(lambda part: fn(params, part), pts, chunk or self.chunk)


_EVALUATORS: dict = {}


def cached_evaluator(net: Model, geo, cfg: dict) -> Evaluator:
    """The :class:`Evaluator` of a model (cached: its compiled functions are reused)."""
    key = (model_key(geo, cfg), int(cfg["eval"]["chunk"]))
    if key not in _EVALUATORS:
        if len(_EVALUATORS) > 8:
            _EVALUATORS.clear()
        _EVALUATORS[key] = Evaluator(net, geo, int(cfg["eval"]["chunk"]))
    return _EVALUATORS[key]


def validation(evaluator: Evaluator, params64: Params, pts: losses.Point, spec: dict,
               terms) -> dict:
    """Per-epoch validation: sigma (exactly :func:`cygen.geometry.measure.sigma`) and the
    enabled terms."""
    terms = sorted(set(terms) - {"ricci", "flow"} | {"sigma"})  # flow: training points only
    stats = evaluator.stats(params64, pts, terms)
    out = losses.summarize(stats, np.asarray(pts.weight), spec)
    keep = {"sigma", *terms}
    return {k: v for k, v in out.items() if k in keep}


def final_metrics(evaluator: Evaluator, params64: Params, pts: losses.Point, spec: dict,
                  ecfg: dict) -> dict:
    """sigma, transition, volume (slopes), kahler and ricci (on subsets), sigma of FS."""
    w = np.asarray(pts.weight)
    stats = evaluator.stats(params64, pts, ("sigma", "transition", "volume"), name="final")
    out = losses.summarize(stats, w, spec)
    out["sigma_fs"] = measure_sigma(w, np.asarray(pts.eta_fs))
    n_k = min(int(ecfg.get("kahler_points") or 0), len(w))
    out["kahler"] = None
    if n_k > 0:
        sub = jax.tree.map(lambda a: a[:n_k], pts)
        k = evaluator.stats(params64, sub, ("kahler",), name="kahler",
                            chunk=min(evaluator.chunk, 512))["kahler"]
        out["kahler"] = float(np.sum(w[:n_k] * k) / np.sum(w[:n_k]))
    n_r = min(int(ecfg.get("ricci_points") or 0), len(w))
    out["ricci"] = None
    if n_r > 0:
        sub = jax.tree.map(lambda a: a[:n_r], pts)
        r = evaluator.stats(params64, sub, ("ricci",), name="ricci",
                            chunk=min(evaluator.chunk, 256))
        out["ricci"] = ricci_measure(w[:n_r], r["eta"], r["ricci"], evaluator.model.dim)
    return out
