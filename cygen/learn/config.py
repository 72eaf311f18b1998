"""A run's configuration: the defaults, and resolving user overrides against them.

The resolved configuration (every default filled in) is what a run stores as
``config.json``; :func:`resolve_config` checks it before any sampling or writing.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
import warnings
from pathlib import Path
from typing import Any

from cygen.learn.losses import RESIDUAL_TERMS
from cygen.learn.models import MODEL_DEFAULTS

RUN_KEYS = {"version", "source", "module_file", "data", "points", "epochs", "seed", "name",
            "init"}  # filled in by the trainer, not by a user's config

__all__ = ["CONFIG_DEFAULTS", "LOSS_DEFAULTS", "SIGMA_GRADIENTS", "loss_powers", "read_config",
           "resolve_config", "upgrade_config"]

CONFIG_DEFAULTS: dict[str, Any] = {
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
    "loss_power": {},  # {kahler|transition|ricci: p}: train mean |r|^p (cygen.train.loss_powers)
    "dtype": "float32",  # training precision; evaluation is always float64
    "steps_per_call": 0,  # optimiser steps per compiled call; 0: about 8192 points per call
    "eval": {"kahler_points": 1000, "ricci_points": 500, "chunk": 2048,
             "symmetry_points": 0, "symmetry_elements": 8},  # Delta_sym per epoch if > 0
}

SIGMA_GRADIENTS = ("auto", "exact", "fixed")  # config sigma_gradient (cygen.train.exact_sigma)

LOSS_DEFAULTS: dict[str, dict[str, float]] = {
    "phi": {"sigma": 1.0},
    "add": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
    "mult": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
    "ldl": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
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
    """Config ``loss_power``: {term: p} for the residual terms (kahler, transition, ricci),
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


RENAMED = {"kaehler": "kahler", "kaehler_points": "kahler_points"}  # cygen 0.1 spellings


def upgrade_config(cfg: dict, *, warn: bool = True) -> dict:
    """``cfg`` with cygen 0.1's key spellings (``kaehler``) renamed, at any depth; ``warn``
    raises a :class:`DeprecationWarning` for a user's config (stored runs are upgraded
    silently).  Accepted for one release."""
    def walk(obj):
        if isinstance(obj, dict):
            out = {}
            for key, value in obj.items():
                new = RENAMED.get(key, key)
                if new != key and warn:
                    warnings.warn(f"config key {key!r} is now spelled {new!r}",
                                  DeprecationWarning, stacklevel=4)
                out[new] = walk(value)
            return out
        return obj

    return walk(cfg)


def resolve_config(model: str, overrides: dict | None = None) -> dict:
    """Defaults, then the model's defaults, then ``overrides`` (nested dicts merge)."""
    overrides = upgrade_config(dict(overrides or {}))
    name = overrides.get("model", {}).get("name", model)
    if name not in MODEL_DEFAULTS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_DEFAULTS)}")
    cfg = _merge(CONFIG_DEFAULTS, {"model": {"name": name, **MODEL_DEFAULTS[name]},
                            "loss": LOSS_DEFAULTS[name]})
    cfg = _merge(cfg, overrides)
    unknown = set(cfg["loss"]) - {"sigma", "kahler", "transition", "volume", "ricci"}
    if unknown:
        raise ValueError(f"unknown loss terms {sorted(unknown)}")
    unknown = set(cfg) - set(CONFIG_DEFAULTS) - RUN_KEYS
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    loss_powers(cfg)  # checked here, before any sampling or training
    if cfg["sigma_gradient"] not in SIGMA_GRADIENTS:
        raise ValueError(f"sigma_gradient must be {', '.join(SIGMA_GRADIENTS)}, "
                         f"not {cfg['sigma_gradient']!r}")
    return cfg
