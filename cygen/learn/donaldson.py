"""Donaldson's balanced metrics on any CICY: the T-operator, the metric, sigma, run dirs.

The sections are the standard monomials of multidegree k of a Gröbner basis of the exact
equations; a Hermitian h defines the potential K_h = log(s† h s) / (πλ), and the balanced h
is the fixed point of the T-operator, iterated on the sampler's weighted points (h = T(h)⁻¹,
from Fubini–Study's h₀); the metric is ∂∂̄K_h in closed form, per point (vmap outside, jit,
float64).  ``balanced`` returns a ``Balanced``, which ``cygen.euler`` and
``curvature_summary`` accept and ``Balanced.save`` writes as a run directory.  The
conventions (Donaldson; Douglas–Karp–Lukic–Reinbacher), the formulas and σ_k against the
literature are in docs/donaldson.md (the site's "Donaldson's balanced metrics" page).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from cygen.compiler.analysis import sections as sec
from cygen.compiler.loader import as_module
from cygen.core.errors import CygenError
from cygen.core.io import atomic_write, write_json
from cygen.core.progress import Progress
from cygen.geometry import batching
from cygen.geometry import runtime as rt
from cygen.geometry.local import local
from cygen.geometry.measure import sigma as measure_sigma
from cygen.learn.checkpoint import save_checkpoint
from cygen.learn.config import CONFIG_DEFAULTS
from cygen.learn.models import Model, balanced_model
from cygen.learn.potentials import metric_from_jet, potential, section_jet, section_values
from cygen.learn.runs import module_file, prepare_run_directory
from cygen.sampling.sampler import sample

CHUNK = 8192  # points per compiled T-operator call (the last chunk padded with weight 0)
MAX_ITERATIONS = 50
TOLERANCE = 1e-5  # relative change of h (Frobenius) that stops the iteration


def start_matrix(exponents: np.ndarray, factor_sizes: Sequence[int]) -> np.ndarray:
    """h_0 = diag(prod_a multinomial(k_a; e^(a))): Fubini–Study's h for a full monomial basis."""
    diag = []
    for e in np.asarray(exponents):
        value, o = 1, 0
        for s in factor_sizes:
            part = e[o : o + s]
            value *= math.factorial(int(part.sum())) // math.prod(math.factorial(int(x))
                                                                  for x in part)
            o += s
        diag.append(float(value))
    return np.diag(diag).astype(complex)


def lam(degree: Sequence[int], kahler: Sequence[float], k: int | None = None) -> float:
    """lambda of the module docstring (K = log D / (pi lambda))."""
    if k is not None:
        return float(k)
    return float(sum(degree)) / float(sum(kahler))


# ----------------------------------------------------------------------------- T-operator


def _t_chunk_fn(exponents: np.ndarray):
    def chunk(h, z, w):
        s = jax.vmap(lambda p: section_values(exponents, p))(z)  # (B, n_s)
        d = jnp.real(jnp.sum(s.conj() * (s @ h.T), axis=1))
        return (s * (w / d)[:, None]).T @ s.conj()

    return jax.jit(chunk)


_T_FNS: dict = {}


def t_operator(exponents: np.ndarray, h: np.ndarray, points: np.ndarray,
               weights: np.ndarray, chunk: int = CHUNK) -> np.ndarray:
    """T(h) (n_s, n_s) Hermitian, normalised so that tr(h T(h)) = n_s (module docstring)."""
    key = np.asarray(exponents).tobytes() + str(np.asarray(exponents).shape).encode()
    if key not in _T_FNS:
        if len(_T_FNS) > 8:
            _T_FNS.clear()
        _T_FNS[key] = _t_chunk_fn(np.asarray(exponents))
    fn = _T_FNS[key]
    hj = jnp.asarray(h)
    total = jnp.zeros(h.shape, complex)
    for valid, (z, w) in batching.chunks((points, weights), chunk):
        w = np.where(np.arange(len(w)) < valid, w, 0.0)  # the padding carries no weight
        total = total + fn(hj, jnp.asarray(z), jnp.asarray(w, jnp.float64))
    t = np.asarray(total) * len(exponents) / float(np.sum(weights))
    return 0.5 * (t + t.conj().T)


def balance(exponents: np.ndarray, points: np.ndarray, weights: np.ndarray, *,
            h0: np.ndarray | None = None, max_iterations: int = MAX_ITERATIONS,
            tol: float = TOLERANCE, progress: Callable[[dict], None] | None = None,
            factor_sizes: Sequence[int] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Iterate h <- T(h)^{-1} from ``h0`` (default ``start_matrix``) until the relative
    Frobenius change is below ``tol``; returns (h, history) with, per iteration, ``change``
    and ``seconds``.  h is normalised to unit mean diagonal (the metric ignores the scale)."""
    if h0 is None:
        sizes = factor_sizes or [np.asarray(exponents).shape[1]]
        h0 = start_matrix(exponents, sizes)
    h = np.asarray(h0, complex)
    h = h / np.real(np.trace(h)) * len(h)
    history: list[dict] = []
    for it in range(1, max_iterations + 1):
        t0 = time.perf_counter()
        t = t_operator(exponents, h, points, weights)
        new = np.linalg.inv(t)
        new = 0.5 * (new + new.conj().T)
        new = new / np.real(np.trace(new)) * len(new)
        change = float(np.linalg.norm(new - h) / np.linalg.norm(h))
        h = new
        history.append({"iteration": it, "change": change,
                        "seconds": round(time.perf_counter() - t0, 4)})
        if progress is not None:
            progress({"event": "iteration", **history[-1], "max_iterations": max_iterations})
        if change < tol:
            break
    return h, history


# ----------------------------------------------------------------------------- model


# ----------------------------------------------------------------------------- Balanced


@dataclass(eq=False, frozen=True)
class Balanced:
    """A balanced metric: ``metric_in(z, chart)`` (also ``__call__``) is jit/vmap-friendly.

    Attributes
    ----------
    module : module
        The manifold's generated module.
    degree : tuple of int
        The multidegree k of the sections.
    exponents : numpy.ndarray
        (n_k, N) exponents of the sections (standard monomials).
    h : numpy.ndarray
        (n_k, n_k) the balanced Hermitian matrix.
    scale : float
        1 / (πλ): the potential is ``scale * log(s† h s)``.
    history : list of dict
        One entry per T-iteration (``change``, ``seconds``).
    info : dict
        ``points``, ``seed``, ``n_sections``, ``iterations``, ``converged`` and timings.

    Examples
    --------
    >>> import numpy as np, cygen
    >>> b = cygen.balanced("manifolds/torus.cy", 2, points=256)
    >>> z = b.module.normalize(np.array([1, -1, 0], dtype=complex))
    >>> b.metric(z).shape, b.degree, b.h.shape
    ((1, 1), (2,), (6, 6))
    """

    module: ModuleType
    degree: tuple[int, ...]
    exponents: np.ndarray
    h: np.ndarray
    scale: float  # 1 / (pi lambda)
    history: list = field(default_factory=list)
    info: dict = field(default_factory=dict)

    @property
    def geometry(self) -> rt.Geometry:
        return self.module.GEOMETRY

    @property
    def model(self) -> Model:
        return balanced_model(self.geometry, self.exponents, self.scale)

    @property
    def params(self) -> dict:
        return {"h_re": jnp.asarray(self.h.real), "h_im": jnp.asarray(self.h.imag)}

    def chart(self, z):
        return rt.select_chart(self.geometry, z)

    def metric_in(self, z, chart):
        """g_{i jbar} of ``z`` in ``chart`` (chart coordinates)."""
        f = rt.frame(self.geometry, z, chart)
        s, a = section_jet(self.exponents, f.zc, f.pullback)
        return metric_from_jet(self.scale, jnp.asarray(self.h), s, a)

    def __call__(self, z, chart):
        return self.metric_in(z, chart)

    def metric(self, z):
        return self.metric_in(z, self.chart(z))

    def potential(self, z):
        return potential(self.exponents, self.scale, jnp.asarray(self.h), z)

    def as_config(self) -> dict:
        """JSON-able description (the ``model`` of a run, or a phi model's ``base``)."""
        return {"degree": list(self.degree), "exponents": self.exponents.tolist(),
                "scale": self.scale, "h_re": self.h.real.tolist(), "h_im": self.h.imag.tolist()}

    def save(self, run_dir: str | Path, metrics: dict | None = None, *,
             overwrite: bool = False) -> Path:
        """Write a run directory ``cygen.learn.runs.load_run`` loads (model ``donaldson``);
        an existing run there is replaced only with ``overwrite``."""
        run = Path(run_dir)
        prepare_run_directory(run, overwrite)
        run.mkdir(parents=True, exist_ok=True)
        name, code = module_file(self.module)
        atomic_write(run / name, code)
        model = {"name": "donaldson", "degree": list(self.degree),
                 "exponents": self.exponents.tolist(), "scale": self.scale}
        cfg = {**CONFIG_DEFAULTS, "model": model, "loss": {"sigma": 1.0}, "version": 1,
               "name": self.module.SPEC["name"], "source": self.module.SPEC["source"],
               "module_file": name, "seed": int(self.info.get("seed", 0)), "epochs": 0,
               "data": None, "points": int(self.info.get("points", 0))}
        write_json(run / "config.json", cfg)
        save_checkpoint(run / "checkpoint.npz",
                        {"h_re": np.asarray(self.h.real), "h_im": np.asarray(self.h.imag)},
                        {}, {"epoch": 0, "history": self.history})
        write_json(run / "metrics.json", {**(metrics or {}), "model": "donaldson",
                                          "degree": list(self.degree), "status": "completed",
                                          "name": self.module.SPEC["name"],
                                          "history": self.history})
        return run


def default_points(n_sections: int) -> int:
    """T-operator points: 5 n_s^2 + 20000 (the balanced metric of a finite sample is biased
    towards it; with this many points sigma_k of the quintic is within +0.005 of the
    literature's up to k = 6, docs/donaldson.md)."""
    return 5 * n_sections**2 + 20_000


def balanced(source_or_module, k: int | Sequence[int], *, points: int | None = None,
             seed: int = 0, data=None, max_iterations: int = MAX_ITERATIONS,
             tol: float = TOLERANCE, progress: Callable[[dict], None] | None = None) -> Balanced:
    """Donaldson's balanced metric of degree ``k`` (``cygen donaldson``).

    The sections are standard monomials of a Gröbner basis of the module's exact equations
    (``cygen.compiler.analysis.sections.basis``), counted against the Hilbert function;
    the T-operator is iterated to convergence on weighted points
    ([Donaldson's balanced metrics](donaldson.md)).

    Parameters
    ----------
    source_or_module : str or os.PathLike or module
        A ``.cy``/``.py`` path or a loaded module.
    k : int or sequence of int
        The degree: an integer (k t_a per factor) or a multidegree.
    points : int, optional
        T-operator points (default ``default_points``: 5 n_k² + 20000), sampled with
        ``seed`` (the ``donaldson`` stream).
    seed : int, optional
        The seed of the points.
    data : Dataset, optional
        Points to use instead of sampling.
    max_iterations : int, optional
        At most this many T-iterations.
    tol : float, optional
        Stop when the relative change of h is below this.
    progress : callable, optional
        Called with a dict after each iteration.

    Returns
    -------
    Balanced
        The metric; ``info["converged"]`` says whether ``tol`` was reached.

    Examples
    --------
    >>> import cygen
    >>> b = cygen.balanced("manifolds/torus.cy", 2, points=256)
    >>> b.info["n_sections"], b.info["converged"]      # O(2) on a cubic curve: 6 sections
    (6, True)
    """
    module = as_module(source_or_module)
    exps = sec.basis(module, k)
    degree = sec.multidegree(k, module.GEOMETRY.kahler)
    n = points or default_points(len(exps))
    t0 = time.perf_counter()
    if data is None:
        data = sample(module, n, seed, purpose="donaldson")
    t_sample = time.perf_counter() - t0
    pts, w = np.asarray(data.points)[:n], np.asarray(data.weights)[:n]
    h, history = balance(exps, pts, w, max_iterations=max_iterations, tol=tol,
                         progress=progress, factor_sizes=module.GEOMETRY.factor_sizes)
    scale = 1.0 / (math.pi * lam(degree, module.GEOMETRY.kahler,
                                 k if isinstance(k, int | np.integer) else None))
    info = {"points": len(pts), "seed": seed, "n_sections": len(exps),
            "iterations": len(history), "converged": bool(history[-1]["change"] < tol),
            "seconds_sampling": round(t_sample, 3),
            "seconds_per_iteration": float(np.median([x["seconds"] for x in history]))}
    return Balanced(module, degree, np.asarray(exps), h, scale, history, info)


# ----------------------------------------------------------------------------- evaluation


_ETA_FNS: dict = {}


def eta(metric: Balanced, data, chunk: int = 4096) -> np.ndarray:
    """eta = det g / |Omega|^2 at the dataset's points (in their charts), float64."""
    exps = metric.exponents
    key = (id(metric.module), exps.tobytes(), exps.shape, metric.scale)
    if key not in _ETA_FNS:
        if len(_ETA_FNS) > 8:
            _ETA_FNS.clear()
        geo, scale = metric.geometry, metric.scale

        def one(h, z, chart, omega):
            f = rt.frame(geo, z, chart)
            s, a = section_jet(exps, f.zc, f.pullback)
            g = metric_from_jet(scale, h, s, a)
            return jnp.real(rt.det(g)) / omega

        _ETA_FNS[key] = (metric.module, jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0))))
    fn = _ETA_FNS[key][1]
    h = jnp.asarray(metric.h)
    return batching.padded_map(lambda b: fn(h, *b), (data.points, data.chart, data.omega_sq),
                               chunk)


def sigma(metric: Balanced, data) -> float:
    """sigma of the balanced metric on ``data`` (use points not used in the T-operator)."""
    return measure_sigma(data.weights, eta(metric, data))


def init_base(source_or_module, spec: str, seed: int = 0, points: int | None = None) -> dict:
    """``"donaldson:K"`` -> the ``base`` entry of a phi model config (the balanced potential)."""
    kind, _, k = str(spec).partition(":")
    if kind != "donaldson" or not k.strip().isdigit() or int(k) < 1:
        raise CygenError(f"unknown --init {spec!r}: expected donaldson:K with K >= 1")
    metric = balanced(source_or_module, int(k), points=points, seed=seed)
    return {"kind": "donaldson", "k": int(k), **metric.as_config(),
            "points": metric.info["points"], "iterations": metric.info["iterations"]}


def local_metric(metric: Balanced, z, chart) -> jax.Array:
    """The metric through ``cygen.learn.models.Model`` (the route a loaded run takes)."""
    return metric.model.metric(metric.params, local(metric.geometry, z, chart))


def progress_callback(bar: Progress) -> Callable[[dict], None]:
    """The events of ``balanced`` (and of ``cygen.evaluate.donaldson.table``) shown
    on the one progress bar: a task per degree, advanced per T-iteration."""

    def show(event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            bar.task(f"k = {event['k']}", total=None, info="sampling")
        elif kind == "iteration":
            bar.update(completed=event["iteration"], total=event["max_iterations"],
                       info=f"change {event['change']:.1e}")
        elif kind == "done":
            bar.update(completed=event["iterations"], total=event["iterations"],
                       info=f"sigma {event['sigma']:.4f}")

    return show


__all__ = ["Balanced", "balance", "balanced", "default_points", "eta", "init_base",
           "local_metric", "progress_callback", "sigma", "start_matrix", "t_operator"]
