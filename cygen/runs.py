"""Training runs on disk: the configuration, checkpoints, and :func:`load_run`.

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

import copy
import hashlib
import io
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from cygen import runtime as rt
from cygen.io import atomic_write
from cygen.models import DEFAULTS as MODEL_DEFAULTS
from cygen.models import Model, Params, cast, local, make_model

CONFIG_VERSION = 1

DEFAULTS: dict[str, Any] = {
    "model": {},  # {"name": ..., "widths": [...], "activation": ..., "init_scale": ...}
    "loss": {},  # alpha per term; the model's LOSS_DEFAULTS fill it
    "optimizer": {
        "name": "adam",
        "lr": 1e-3,
        "schedule": "constant",  # constant | cosine | exponential
        "final_lr": 1e-5,  # cosine: the learning rate at the end of horizon_epochs
        "decay_rate": 0.9,  # exponential: factor per epoch
        "warmup_epochs": 0,
        "horizon_epochs": None,  # schedule length; None: the run's epochs
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
    },
    "lbfgs": {"steps": 0, "points": 8192, "memory": 10},  # optional fine-tune after Adam
    "batch_size": 64,
    "micro_batch": 0,  # >0: split batches into micro-batches (exact; less memory, slower)
    "val_fraction": 0.1,
    "sigma_gradient": "auto",  # auto | exact | fixed (cygen.train.exact_sigma)
    "loss_power": {},  # {kaehler|transition|ricci: p}: train mean |r|^p (cygen.train.loss_powers)
    "dtype": "float32",  # training precision; evaluation is always float64
    "steps_per_call": 0,  # optimiser steps per compiled call; 0: about 8192 points per call
    "eval": {"kaehler_points": 1000, "ricci_points": 500, "chunk": 2048,
             "symmetry_points": 0, "symmetry_elements": 8},  # Delta_sym per epoch if > 0
}

RESIDUAL_TERMS = ("kaehler", "transition", "ricci")  # terms that ``loss_power`` applies to
SIGMA_GRADIENTS = ("auto", "exact", "fixed")  # config sigma_gradient (cygen.train.exact_sigma)

LOSS_DEFAULTS: dict[str, dict[str, float]] = {
    "phi": {"sigma": 1.0},
    "add": {"sigma": 1.0, "kaehler": 1.0, "transition": 1.0, "volume": 1.0},
    "mult": {"sigma": 1.0, "kaehler": 1.0, "transition": 1.0, "volume": 1.0},
    "ldl": {"sigma": 1.0, "kaehler": 1.0, "transition": 1.0, "volume": 1.0},
    "donaldson": {"sigma": 1.0},  # not trained: a balanced metric (cygen.donaldson)
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_config(path: str | os.PathLike) -> dict:
    """A config override from a ``.toml`` or ``.json`` file."""
    path = Path(path)
    if path.suffix == ".toml":
        with path.open("rb") as fh:
            return tomllib.load(fh)
    return json.loads(path.read_text(encoding="utf-8"))


def loss_powers(cfg: dict) -> tuple[tuple[str, float], ...]:
    """Config ``loss_power``: {term: p} for the residual terms (kaehler, transition, ricci),
    trained as the weighted mean of |r|^p; 1 (the norm) where not given."""
    out = []
    for name, p in sorted((cfg.get("loss_power") or {}).items()):
        if name not in RESIDUAL_TERMS:
            raise ValueError(f"loss_power applies to {', '.join(RESIDUAL_TERMS)}, "
                             f"not {name!r}")
        if not float(p) > 0:
            raise ValueError(f"loss_power.{name} must be positive, not {p!r}")
        if float(p) != 1.0:
            out.append((name, float(p)))
    return tuple(out)


def resolve_config(model: str, overrides: dict | None = None) -> dict:
    """Defaults, then the model's defaults, then ``overrides`` (nested dicts merge)."""
    overrides = dict(overrides or {})
    name = overrides.get("model", {}).get("name", model)
    if name not in MODEL_DEFAULTS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_DEFAULTS)}")
    cfg = _merge(DEFAULTS, {"model": {"name": name, **MODEL_DEFAULTS[name]},
                            "loss": LOSS_DEFAULTS[name]})
    cfg = _merge(cfg, overrides)
    unknown = set(cfg["loss"]) - {"sigma", "kaehler", "transition", "volume", "ricci"}
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}")
    unknown = set(cfg) - set(DEFAULTS) - {"version", "source", "module_file", "data", "points",
                                          "epochs", "seed", "name", "init"}
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    loss_powers(cfg)  # checked here, before any sampling or training
    if cfg["sigma_gradient"] not in SIGMA_GRADIENTS:
        raise ValueError(f"sigma_gradient must be {', '.join(SIGMA_GRADIENTS)}, "
                         f"not {cfg['sigma_gradient']!r}")
    return cfg


_MODELS: dict = {}


def build_model(geo: rt.Geometry, cfg: dict, spec: dict | None = None) -> Model:
    """The run's model; cached per geometry and model config, so compiled functions that
    close over it are reused across runs in one process.  ``spec`` (the module's SPEC)
    supplies the patch classes of ``ldl`` with ``networks = "per_class"``."""
    key = (id(geo), json.dumps(cfg["model"], sort_keys=True))
    if key not in _MODELS:
        opts = {k: v for k, v in cfg["model"].items() if k != "name"}
        if opts.get("networks") == "per_class" and spec is not None:
            from cygen.models import patch_classes

            opts["classes"] = patch_classes(spec)
        _MODELS[key] = (geo, make_model(geo, cfg["model"]["name"], **opts))
    return _MODELS[key][1]


def model_key(geo: rt.Geometry, cfg: dict) -> tuple:
    return (id(geo), json.dumps(cfg["model"], sort_keys=True))


# ----------------------------------------------------------------------------- modules


def module_file(module: ModuleType) -> tuple[str, str]:
    """(file name, source text) under which a generated module is stored in a run."""
    code = Path(module.__file__).read_text(encoding="utf-8")
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    return f"module_{module.SPEC['name']}_{digest}.py", code


def load_module(run_dir: Path, cfg: dict) -> ModuleType:
    from cygen.compiler import load

    return load(run_dir / cfg["module_file"])


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path, params: Params, opt_state: Any, meta: dict) -> None:
    """params and optimiser state leaves plus a JSON ``meta``, written atomically."""
    arrays = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))}
    arrays |= {f"o{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(opt_state))}
    buf = io.BytesIO()
    np.savez(buf, meta=np.asarray(json.dumps(meta)), **arrays)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path, params_like: Params, opt_like: Any = None):
    """(params, opt_state or None, meta) with the structures of the ``*_like`` trees."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))

        def restore(like, prefix):
            leaves, treedef = jax.tree.flatten(like)
            keys = sorted((k for k in data.files if k.startswith(prefix) and k[1:].isdigit()),
                          key=lambda k: int(k[1:]))
            if len(keys) != len(leaves):
                raise ValueError(f"{path}: checkpoint does not match the model")
            return jax.tree.unflatten(treedef, [np.asarray(data[k]) for k in keys])

        params = restore(params_like, "p")
        opt_state = None if opt_like is None else restore(opt_like, "o")
    return params, opt_state, meta


# ----------------------------------------------------------------------------- Run


@dataclass(frozen=True)
class Run:
    """A trained metric: ``metric(z)`` and ``chart(z)`` are single-point and jit/vmap-friendly."""

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
        """The chart :func:`cygen.runtime.select_chart` picks for ``z``."""
        return rt.select_chart(self.geometry, z)

    def metric(self, z):
        """g_{i jbar} (dim, dim) of a ``normalize``d point in the chart ``chart(z)`` picks."""
        chart = rt.select_chart(self.geometry, z)
        return self.model.metric(self.params, local(self.geometry, z, chart))

    def metric_in(self, z, chart):
        """g_{i jbar} of ``z`` in a given chart."""
        return self.model.metric(self.params, local(self.geometry, z, chart))


def load_run(run_dir: str | os.PathLike) -> Run:
    """Load a training run (its last checkpoint) from its directory."""
    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    module = load_module(run_dir, cfg)
    model = build_model(module.GEOMETRY, cfg, module.SPEC)
    like = model.init(jax.random.PRNGKey(0))
    params, _, _ = load_checkpoint(run_dir / "checkpoint.npz", like)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else None
    return Run(run_dir, cfg, module, model, cast(params, np.float64), metrics)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


def _jsonable(obj: Any) -> Any:
    """NaN and Inf become null (strict JSON); numpy scalars become Python numbers."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def jsonable(obj: Any) -> Any:
    return _jsonable(obj)


class RichProgress:
    """A rich progress bar with the live losses, for ``train(..., progress=bar)``.

    ``with RichProgress() as bar: train(..., progress=bar)``; epoch lines (validation sigma,
    wall time) are printed above the bar.
    """

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._bar = None
        self._task = None

    def __enter__(self) -> RichProgress:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(),
                             TextColumn("{task.completed}/{task.total} steps"),
                             TextColumn("{task.fields[losses]}"), TimeElapsedColumn(),
                             console=self.console, transient=True)
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        bar, kind = self._bar, event.get("event")
        if bar is None:
            return
        if kind == "start":
            self._task = bar.add_task("train", total=event["steps"], epoch=event["epoch"] + 1,
                                      losses="")
        elif kind == "step" and self._task is not None:
            losses = "  ".join(f"{k} {v:.4g}" for k, v in event["loss"].items())
            bar.update(self._task, completed=event["step"], total=event["steps"],
                       epoch=f"{event['epoch']}/{event['epochs']}", losses=losses)
        elif kind == "epoch":
            val = "  ".join(f"{k} {v:.4g}" for k, v in event["val"].items()
                            if isinstance(v, float))
            bar.console.print(f"epoch {event['epoch']}: val {val}  ({event['wall_s']:.0f} s)")
        elif kind == "lbfgs" and self._task is not None:
            bar.update(self._task, completed=event["step"], total=event["steps"],
                       epoch="L-BFGS", losses=f"loss {event['loss']:.4g}")
        elif kind == "stop":
            bar.console.print(event["message"])
