"""The Euler number by integration, and curvature summaries, of any metric on a sampled X.

The sampler's absolute weights w = |Ω|²/ρ integrate a top form F vol_0 as E[F/ρ] with no
fitted constant, so χ = ∫_X c_n(g) is the mean of w e det g / |Ω|² (e the Euler density of
``cygen.geometry.curvature``) with its Monte-Carlo standard error.  The metric is
Fubini–Study (``metric_fn=None``, closed-form derivatives), any function ``(z, chart) -> g``,
or a trained run (a ``phi`` run through its model's own jets, any other through autodiff).
The derivation and the measured results are in docs/curvature.md (the site's "Curvature
and χ" page).
"""

from __future__ import annotations

import math
import time
from typing import Any

import jax
import numpy as np

from cygen.geometry import batching, scale
from cygen.geometry import curvature as cv
from cygen.geometry.measure import ricci_measure
from cygen.learn.runs import resolve
from cygen.sampling.sampler import sample

BATCH = 4096  # FS points per jitted call (a fixed shape: the last batch is padded)
BATCH_AUTODIFF = 256  # for other metrics: nested forward-mode AD holds more per point
TOLERANCE = 0.02  # chi agrees if |chi_mc - chi| <= max(2% |chi|, 3 chi_err)
NONFINITE_TOLERANCE = 1e-3  # more dropped (non-finite) points than this fraction: a failure

_JITTED: dict = {}  # compiled per-point functions, most recent last
_JITTED_MAX = 16


def _resolve(source_or_module, metric_fn, params=None, allow_non_cy: bool = False):
    """(module, metric) from a .cy/.py path, a loaded module, a run directory or a run."""
    target = resolve(source_or_module, params, allow_non_cy=allow_non_cy)
    return target.module, target.run if metric_fn is None else metric_fn


def route(metric_fn) -> str:
    """How the metric's derivatives are taken: ``fs_closed_form``, ``jets:<model>`` (a run
    whose model has closed-form jets, e.g. ``jets:phi``), or ``autodiff``."""
    if metric_fn is None or (isinstance(metric_fn, str) and metric_fn == "fs"):
        return "fs_closed_form"
    if isinstance(getattr(metric_fn, "route", None), str):
        return metric_fn.route
    if callable(getattr(metric_fn, "jet", None)):
        return f"jets:{type(metric_fn).__name__}"
    return "autodiff"


def metric_name(metric_fn) -> str:
    if metric_fn is None or (isinstance(metric_fn, str) and metric_fn == "fs"):
        return "fubini_study"
    path = getattr(metric_fn, "path", None)
    if path is not None:
        return f"run:{path}"
    return getattr(metric_fn, "__name__", type(metric_fn).__name__)


def point_function(module, metric_fn, what: str = "euler", embedding: str = "tangent"):
    """jit(vmap(...)) of per-point quantities: ``what`` = "euler" or "curvature" (cached)."""
    try:
        key = (module, metric_fn, what, embedding)
        hash(key)
    except TypeError:
        key = (module, id(metric_fn), what, embedding)
    if key not in _JITTED:
        geo = module.GEOMETRY

        if what == "euler":
            def one(z, chart):
                return {"euler_form": cv.euler_form(metric_fn, geo, z, chart,
                                                    embedding=embedding)}
        elif what == "curvature":
            def one(z, chart):
                c = cv.curvature(metric_fn, geo, z, chart, embedding=embedding)
                return {"det_g": c.det_g, "scalar": c.scalar, "chern": c.chern}
        else:
            raise ValueError(f"unknown quantity {what!r}")
        _JITTED[key] = (jax.jit(jax.vmap(one)), metric_fn)  # keep metric_fn alive for id()
        while len(_JITTED) > _JITTED_MAX:
            _JITTED.pop(next(iter(_JITTED)))
    return _JITTED[key][0]


def _dropped(ok: np.ndarray) -> dict:
    """How many points were dropped as non-finite, and whether that is few enough
    (at most ``NONFINITE_TOLERANCE`` of them: more means a broken metric or data)."""
    dropped = int(np.count_nonzero(~ok))
    return {"nonfinite": dropped, "nonfinite_fraction": dropped / max(len(ok), 1),
            "nonfinite_ok": dropped <= NONFINITE_TOLERANCE * len(ok)}


def default_batch(metric_fn, batch: int | None = None) -> int:
    """``batch`` if given, else the points per jitted call for this metric's route."""
    if batch is not None:
        return batch
    fs = metric_fn is None or (isinstance(metric_fn, str) and metric_fn == "fs")
    return BATCH if fs else BATCH_AUTODIFF


def evaluate(fn, points: np.ndarray, charts: np.ndarray, batch: int = BATCH,
             mesh=None) -> dict:
    """Apply a jitted per-point function ``fn(z, chart)`` in fixed-size batches
    (``cygen.geometry.batching.padded_map``); with a ``mesh`` every batch is split
    across its devices."""
    return batching.padded_map(lambda b: fn(*b), (points, charts), batch, mesh)


def _mean_err(x: np.ndarray) -> tuple[float, float]:
    """The mean and its standard error (NaN for no points: every density was dropped)."""
    if len(x) == 0:
        return math.nan, math.nan
    return float(np.mean(x)), float(np.std(x) / math.sqrt(len(x)))


def _sample(module, n: int, seed: int, data, devices: int | None = 1):
    """(dataset, seconds, seed): ``data`` as given (its own seed), or n fresh points."""
    start = time.perf_counter()
    if data is None:
        data = sample(module, n, seed, devices=devices, purpose="euler")
    else:
        seed = data.metadata.get("seed", seed)
    return data, time.perf_counter() - start, seed


def euler(source_or_module, n: int = 100_000, seed: int = 0, metric_fn=None, *,
          data=None, embedding: str = "tangent", batch: int | None = None, params=None,
          allow_non_cy: bool = False, devices: int | None = 1) -> dict[str, Any]:
    """χ = ∫_X c_n(g) by Monte Carlo on ``n`` sampled points (``cygen euler``).

    Parameters
    ----------
    source_or_module : str or os.PathLike or module or Run or Balanced
        A manifold (``.cy``/``.py`` path or loaded module: its Fubini–Study metric), a run
        directory, or a trained metric (``cygen.load_run``, ``cygen.balanced``).
    n : int, optional
        Points to sample (the ``euler`` stream of ``seed``).
    seed : int, optional
        The seed.
    metric_fn : callable, optional
        A metric ``(z, chart) -> g`` in chart coordinates, instead of the source's.
    data : Dataset, optional
        Points to integrate on instead of sampling.
    embedding : str, optional
        How the Chern forms are computed (``"tangent"``: in the chart frame).
    batch : int, optional
        Points per compiled call (default: by metric).
    params : iterable of str or mapping, optional
        Parameter overrides for a ``.cy`` path.
    allow_non_cy : bool, optional
        Accept a manifold with c1 != 0 (the integral still equals χ).
    devices : int or None, optional
        Shard the sampling and the density over this many devices (``None``/0: all).

    Returns
    -------
    dict
        ``chi_mc``, ``chi_err`` (standard error), ``chi_topological`` (``SPEC["euler"]``),
        ``sigmas`` = |chi_mc − χ| / chi_err, ``relative_error``, ``agrees`` (within
        max(2 %, 3 standard errors)), ``n``, ``points_per_second`` (JIT compilation
        included), ``seconds_sampling``, ``nonfinite`` / ``nonfinite_fraction`` /
        ``nonfinite_ok`` (points whose density is not finite are dropped; at most
        ``NONFINITE_TOLERANCE`` of them is accepted), ``metric``, ``route``
        (``fs_closed_form``, ``jets:phi`` or ``autodiff``) and ``seed``.

    Examples
    --------
    >>> import cygen
    >>> result = cygen.euler("manifolds/torus.cy", n=256)
    >>> result["chi_topological"], result["agrees"], result["route"]
    (0, True, 'fs_closed_form')
    """
    module, metric_fn = _resolve(source_or_module, metric_fn, params, allow_non_cy)
    data, t_sample, seed = _sample(module, n, seed, data, devices)
    name = metric_name(metric_fn)
    start = time.perf_counter()
    fn = point_function(module, metric_fn, "euler", embedding)
    mesh = scale.mesh(devices)
    batch = default_batch(metric_fn, batch)
    form = evaluate(fn, data.points, data.chart, batch, mesh)["euler_form"]
    t_eval = time.perf_counter() - start
    integrand = form * data.weights / data.omega_sq  # = c_n / (rho vol_0)
    ok = np.isfinite(integrand)
    chi_mc, chi_err = _mean_err(integrand[ok])
    chi = module.SPEC["euler"]
    diff = abs(chi_mc - chi)
    return {
        "name": module.SPEC["name"],
        "metric": name,
        "route": route(metric_fn),
        "n": int(len(data)),
        "chi_mc": chi_mc,
        "chi_err": chi_err,
        "chi_topological": chi,
        "sigmas": diff / chi_err if chi_err > 0 else (0.0 if diff == 0 else math.inf),
        "relative_error": diff / abs(chi) if chi else None,
        "agrees": bool(diff <= max(TOLERANCE * abs(chi), 3 * chi_err)),
        "points_per_second": round(len(data) / t_eval, 1),
        "seconds_sampling": round(t_sample, 3),
        **_dropped(ok),
        "seed": seed,
        "devices": scale.size(mesh),
    }


def curvature_summary(source_or_module, n: int = 100_000, seed: int = 0, metric_fn=None, *,
                      data=None, embedding: str = "tangent", batch: int | None = None,
                      params=None, allow_non_cy: bool = False) -> dict[str, Any]:
    """Ricci measure, Ricci scalar statistics and the Chern numbers ∫c_k ∧ J^(n−k).

    J is the metric's own Kähler form (``cygen curvature``).

    Parameters
    ----------
    source_or_module : str or os.PathLike or module or Run or Balanced
        A manifold (its Fubini–Study metric), a run directory or a trained metric, as for
        ``euler``.
    n : int, optional
        Points to sample.
    seed : int, optional
        The seed.
    metric_fn : callable, optional
        A metric ``(z, chart) -> g`` in chart coordinates, instead of the source's.
    data : Dataset, optional
        Points to integrate on instead of sampling.
    embedding : str, optional
        How the curvature is computed (``"tangent"``: in the chart frame).
    batch : int, optional
        Points per compiled call.
    params : iterable of str or mapping, optional
        Parameter overrides for a ``.cy`` path.
    allow_non_cy : bool, optional
        Accept a manifold with c1 != 0.

    Returns
    -------
    dict
        ``ricci_measure`` (cymetric's definition), ``ricci_scalar_mean`` /
        ``ricci_scalar_std`` (volume-weighted mean and spread of R over X),
        ``ricci_scalar_abs_mean``, ``c1_J`` = ∫c_1 ∧ J^(n−1) (0 on a CY for any Kähler
        metric) with ``c1_J_err`` and ``c1_J_scale`` = ∫|c_1 ∧ J^(n−1)| (to judge "0"),
        ``chern_numbers`` [∫c_k ∧ J^(n−k)] for k = 1..n with ``chern_errors``,
        ``chi_mc``, ``volume_mc`` = ∫ω^n/n! (and ``volume_fs_exact``), the dropped-point
        counts, and for threefolds ``c2_J_topological`` = Σ_a t_a c2·H_a.

    Examples
    --------
    >>> import cygen
    >>> s = cygen.curvature_summary("manifolds/torus.cy", n=256)
    >>> round(s["volume_mc"], 6), s["volume_fs_exact"]       # ∫ω = 3 for FS on the cubic
    (3.0, 3.0)
    >>> abs(s["c1_J"]) < 3 * s["c1_J_err"]                   # c1 = 0 on a Calabi-Yau
    True
    """
    module, metric_fn = _resolve(source_or_module, metric_fn, params, allow_non_cy)
    data, t_sample, seed = _sample(module, n, seed, data)
    name = metric_name(metric_fn)
    start = time.perf_counter()
    fn = point_function(module, metric_fn, "curvature", embedding)
    out = evaluate(fn, data.points, data.chart, default_batch(metric_fn, batch))
    t_eval = time.perf_counter() - start
    spec = module.SPEC
    dim = spec["dimension"]
    det_g, scalar, chern = out["det_g"], out["scalar"], out["chern"]
    ok = np.isfinite(scalar) & np.all(np.isfinite(chern), axis=1) & np.isfinite(det_g)
    w = (data.weights / data.omega_sq)[ok]  # 1 / rho
    det_g, scalar, chern = det_g[ok], scalar[ok], chern[ok]
    dvol = w * det_g  # int f dvol_g = E[f dvol]
    volume, volume_err = _mean_err(dvol)
    r_mean = float(np.mean(dvol * scalar) / volume)
    r_std = float(np.sqrt(max(np.mean(dvol * (scalar - r_mean) ** 2) / volume, 0.0)))
    numbers = [_mean_err(dvol * chern[:, k]) for k in range(dim)]
    c1 = dvol * chern[:, 0]
    result = {
        "name": spec["name"],
        "metric": name,
        "route": route(metric_fn),
        "n": int(len(data)),
        "ricci_measure": ricci_measure(data.weights[ok], det_g / data.omega_sq[ok], scalar, dim),
        "ricci_scalar_mean": r_mean,
        "ricci_scalar_std": r_std,
        "ricci_scalar_abs_mean": float(np.mean(dvol * np.abs(scalar)) / volume),
        "c1_J": numbers[0][0],
        "c1_J_err": numbers[0][1],
        "c1_J_scale": float(np.mean(np.abs(c1))),
        "chern_numbers": [m for m, _ in numbers],
        "chern_errors": [e for _, e in numbers],
        "chi_mc": numbers[-1][0],
        "chi_err": numbers[-1][1],
        "chi_topological": spec["euler"],
        "volume_mc": volume,
        "volume_err": volume_err,
        "volume_fs_exact": spec.get("volume"),
        "points_per_second": round(len(data) / t_eval, 1),
        "seconds_sampling": round(t_sample, 3),
        **_dropped(ok),
        "seed": seed,
    }
    if dim == 3 and spec.get("c2_dot_J") is not None:
        result["c2_J_topological"] = float(np.dot(module.GEOMETRY.kahler, spec["c2_dot_J"]))
    return result
