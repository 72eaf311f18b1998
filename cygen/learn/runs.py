"""Training runs on disk: the run directory, ``load_run``, and ``resolve``.

A run directory holds

* ``config.json``: the resolved configuration (every default filled in);
* ``module_<name>_<hash>.py``: the generated module the run was trained on (so a run
  is self-contained);
* ``data.npz``: the sampled points (unless the run was given ``data=``);
* ``checkpoint.npz``: parameters, optimiser state and the loop position, rewritten
  atomically after every epoch (and at a ``max_minutes`` stop);
* ``log.jsonl``: one JSON object per epoch (every loss term, train and validation; wall time);
* ``metrics.json``: the final validation measures.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import jax
import numpy as np

from cygen.compiler.loader import as_module, load_file
from cygen.core.errors import CygenError
from cygen.core.io import atomic_write, read_json
from cygen.geometry import runtime as rt
from cygen.geometry.curvature import MetricJet, autodiff_jet
from cygen.geometry.local import local
from cygen.learn.checkpoint import load_checkpoint
from cygen.learn.config import stored_config
from cygen.learn.models import Model, Params, cast, patch_classes
from cygen.learn.symmetric import symmetric_model

_MODELS: dict = {}


def build_model(geo: rt.Geometry, cfg: dict, spec: dict | None = None) -> Model:
    """The run's model; cached per geometry and model config, so compiled functions that
    close over it are reused across runs in one process.  ``spec`` (the module's SPEC)
    supplies the patch classes of ``ldl`` with ``networks = "per_class"`` and the symmetry
    group of ``symmetry = "invariant" | "canonical"`` (:mod:`cygen.learn.symmetric`)."""
    key = (id(geo), json.dumps(cfg["model"], sort_keys=True))
    if key not in _MODELS:
        opts = {k: v for k, v in cfg["model"].items() if k not in ("name", "symmetry")}
        if opts.get("networks") == "per_class" and spec is not None:
            opts["classes"] = patch_classes(spec)
        symmetry = cfg["model"].get("symmetry", "none")
        if symmetry != "none" and spec is None:
            raise ValueError("symmetry-aware models need the module's SPEC")
        _MODELS[key] = (geo, symmetric_model(geo, spec, cfg["model"]["name"], symmetry, **opts))
    return _MODELS[key][1]


# ----------------------------------------------------------------------------- modules


def module_file(module: ModuleType) -> tuple[str, str]:
    """(file name, source text) under which a generated module is stored in a run."""
    code = Path(module.__file__).read_text(encoding="utf-8")
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    return f"module_{module.SPEC['name']}_{digest}.py", code


def store_module(run_dir: Path, module: ModuleType) -> tuple[str, ModuleType]:
    """Copy a generated module into a run directory (created if needed); returns its file
    name and the module loaded from the copy (the same object when the code is the same)."""
    name, code = module_file(module)
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(run_dir / name, code)
    return name, load_module(run_dir, {"module_file": name})


def load_module(run_dir: Path, cfg: dict) -> ModuleType:
    """The run's own copy of its generated module (contract version checked)."""
    hint = ("the run was trained with another cygen; re-train it, or recompile its source "
            f"({cfg.get('source', 'the .cy file')}) and replace {cfg['module_file']} with it")
    return load_file(run_dir / cfg["module_file"], hint=hint)


# ----------------------------------------------------------------------------- Run


@dataclass(frozen=True)
class Run:
    """A trained metric: ``metric(z)`` and ``chart(z)`` are single-point and jit/vmap-friendly.

    ``cygen.euler``, ``curvature_summary`` and the figures accept a ``Run`` wherever
    they accept a manifold.

    Attributes
    ----------
    path : pathlib.Path
        The run directory.
    config : dict
        The run's validated ``config.json``.
    module : module
        The run's own copy of the generated module.
    model : cygen.learn.models.Model
        The ansatz (``phi``, ``ldl``, ``add``, ``mult`` or ``donaldson``).
    params : dict
        The network's parameters (float64), from the last checkpoint.
    metrics : dict or None
        ``metrics.json``, if the run finished.

    Examples
    --------
    >>> import os, tempfile, numpy as np, cygen
    >>> run_dir = os.path.join(tempfile.mkdtemp(), "torus")
    >>> config = {"model": {"widths": [8]}, "batch_size": 32,
    ...           "eval": {"kahler_points": 0, "ricci_points": 0}}
    >>> _ = cygen.train("manifolds/torus.cy", run_dir, points=128, epochs=1, config=config)
    >>> run = cygen.load_run(run_dir)
    >>> z = run.module.normalize(np.array([1, -1, 0], dtype=complex))
    >>> run.metric(z).shape, run.route
    ((1, 1), 'jets:phi')
    """

    path: Path
    config: dict
    module: ModuleType
    model: Model
    params: Params  # float64
    metrics: dict | None

    @property
    def geometry(self) -> rt.Geometry:
        return self.module.GEOMETRY

    def chart(self, z):
        """The chart ``cygen.runtime.select_chart`` picks for ``z``."""
        return rt.select_chart(self.geometry, z)

    def metric(self, z):
        """g_{i jbar} (dim, dim) of a ``normalize``d point in the chart ``chart(z)`` picks."""
        chart = rt.select_chart(self.geometry, z)
        return self.model.metric(self.params, local(self.geometry, z, chart))

    def metric_in(self, z, chart):
        """g_{i jbar} of ``z`` in a given chart."""
        return self.model.metric(self.params, local(self.geometry, z, chart))

    @property
    def route(self) -> str:
        """How curvature derivatives of this metric are taken: ``jets:<model>`` when the
        model has closed-form jets (``phi`` on FS), else ``autodiff``."""
        return f"jets:{self.model.name}" if self.model.jet is not None else "autodiff"

    def jet(self, geo: rt.Geometry, z, chart) -> MetricJet:
        """g, d g and d dbar g at ``z`` in ``chart`` (``cygen.geometry.curvature.
        metric_jet`` calls this): the model's own jets, or forward-mode AD of its metric."""
        if self.model.jet is not None:
            return self.model.jet(self.params, geo, z, chart)
        return autodiff_jet(self.metric_in, geo, z, chart)


def load_run(run_dir: str | os.PathLike) -> Run:
    """Load a training run (its last checkpoint) from its directory.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A directory written by ``cygen.train`` (or ``Balanced.save``).

    Returns
    -------
    Run
        The trained metric, its module, config and metrics.

    Raises
    ------
    cygen.core.errors.CygenError
        For a missing, truncated or corrupt file of the run (naming the file), or a module
        of another contract version.

    Examples
    --------
    >>> import os, tempfile, numpy as np, cygen
    >>> run_dir = os.path.join(tempfile.mkdtemp(), "torus")
    >>> config = {"model": {"widths": [8]}, "batch_size": 32,
    ...           "eval": {"kahler_points": 0, "ricci_points": 0}}
    >>> _ = cygen.train("manifolds/torus.cy", run_dir, points=128, epochs=1, config=config)
    >>> run = cygen.load_run(run_dir)
    >>> run.config["model"]["name"], run.metrics["status"]
    ('phi', 'completed')
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        raise CygenError("not a run directory (no config.json)", filename=str(run_dir))
    cfg = stored_config(run_dir / "config.json")
    module = load_module(run_dir, cfg)
    try:
        model = build_model(module.GEOMETRY, cfg, module.SPEC)
    except (ValueError, KeyError, TypeError) as exc:
        raise CygenError(f"its model cannot be built: {exc}",
                         filename=str(run_dir / "config.json")) from None
    like = model.init(jax.random.PRNGKey(0))
    params, _, _ = load_checkpoint(run_dir / "checkpoint.npz", like)
    metrics_path = run_dir / "metrics.json"
    metrics = read_json(metrics_path) if metrics_path.exists() else None
    return Run(run_dir, cfg, module, model, cast(params, np.float64), metrics)




FLOW_STATE = "flow.npz"  # the Kähler–Ricci flow trainer's current step (cygen.learn.trainer)
RUN_FILES = ("config.json", "checkpoint.npz", "log.jsonl", "metrics.json", "data.npz",
             FLOW_STATE)


def check_run_directory(run: Path, overwrite: bool) -> None:
    """Refuse to write a run into ``run`` unless it is absent, empty, or (``overwrite``) a run
    directory: nothing is silently overwritten, and nothing but a run is ever deleted."""
    if not run.exists():
        return
    if not run.is_dir():
        raise CygenError("exists and is not a directory", filename=str(run))
    if not any(run.iterdir()):
        return
    is_run = (run / "config.json").exists()
    if not overwrite:
        what = "a run" if is_run else "files"
        raise CygenError(f"already holds {what}; use --resume to continue a run, or "
                         "--overwrite to replace it", filename=str(run))
    if not is_run:
        raise CygenError("is not a run directory (no config.json): refusing to delete its "
                         "files, even with --overwrite", filename=str(run))


def prepare_run_directory(run: Path, overwrite: bool) -> None:
    """``check_run_directory``, then (an existing run, ``overwrite``) remove its files."""
    check_run_directory(run, overwrite)
    if not run.exists():
        return
    for entry in run.iterdir():
        if entry.name in RUN_FILES or (entry.name.startswith("module_")
                                       and entry.suffix == ".py"):
            entry.unlink()


@dataclass(frozen=True)
class Target:
    """What a command was pointed at: the manifold's module and, for a trained run (or a
    balanced metric), the run whose metric to use (``None``: Fubini–Study)."""

    module: ModuleType
    run: object | None = None


def resolve(target: object, params=None, *, allow_non_cy: bool = False) -> Target:
    """The one resolver of "a manifold or a metric on it": a run directory (its learned
    metric), a loaded run or balanced metric (anything with ``module`` and ``metric_in``), a
    generated module, or a ``.cy``/``.py`` path (``cygen.compiler.loader.as_module``)."""
    if hasattr(target, "module") and hasattr(target, "metric_in"):
        return Target(target.module, target)
    if isinstance(target, str | os.PathLike) and Path(target).is_dir():
        if not (Path(target) / "config.json").exists():
            raise CygenError(f"{target} is not a run directory (no config.json)",
                             filename=str(target))
        run = load_run(target)
        return Target(run.module, run)
    if isinstance(target, str | os.PathLike) and not Path(target).exists():
        raise CygenError(f"cannot read {target}: no such file", filename=str(target))
    return Target(as_module(target, params, allow_non_cy=allow_non_cy))
