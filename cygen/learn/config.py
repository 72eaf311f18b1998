"""A run's configuration: its schema, the defaults, and resolving user overrides against them.

The schema is a set of pydantic models (``extra="forbid"`` at every depth, types and
ranges checked): an unknown key anywhere is refused with a "did you mean ..." suggestion,
a wrong type or value with the key's dotted path, all before any sampling or writing.  The
resolved configuration (every default filled in) is what a run stores as ``config.json``.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import tomllib
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cygen.core.errors import CygenError
from cygen.core.io import read_bytes, read_json
from cygen.learn.losses import RESIDUAL_TERMS
from cygen.learn.models import INPUTS, MODEL_DEFAULTS
from cygen.learn.networks import ACTIVATIONS

__all__ = ["CONFIG_DEFAULTS", "LOSS_DEFAULTS", "SIGMA_GRADIENTS", "RunConfig", "loss_powers",
           "read_config", "resolve_config", "stored_config", "upgrade_config"]

SIGMA_GRADIENTS = ("auto", "exact", "fixed")  # config sigma_gradient (cygen.learn.step)
RENAMED = {"kaehler": "kahler", "kaehler_points": "kahler_points"}  # cygen 0.1 spellings

LOSS_DEFAULTS: dict[str, dict[str, float]] = {
    "phi": {"sigma": 1.0},
    "add": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
    "mult": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
    "ldl": {"sigma": 1.0, "kahler": 1.0, "transition": 1.0, "volume": 1.0},
    "donaldson": {"sigma": 1.0},  # not trained: a balanced metric (cygen.learn.donaldson)
}

Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Count = Annotated[int, Field(ge=0)]
PositiveCount = Annotated[int, Field(ge=1)]
Activation = Literal[tuple(ACTIVATIONS)]  # type: ignore[valid-type]
Inputs = Literal[tuple(INPUTS)]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Network(_Strict):
    widths: list[PositiveCount] = Field(min_length=1)
    activation: Activation
    init_scale: Positive
    base: dict | None = None  # a stored balanced metric (--init donaldson:K), filled in
    ramp_epochs: Count = 0  # >0: the network's part scaled by min(1, epoch / ramp_epochs)


class PhiModel(_Network):
    name: Literal["phi"]
    symmetry: Literal["none", "invariant", "canonical"] = "none"  # cygen.learn.symmetric
    base_rate: NonNegative = 0.0
    residuals: Literal["relative", "absolute"] = "relative"


class _NonKahler(_Network):
    inputs: Inputs = "affine"
    symmetry: Literal["none", "canonical"] = "none"  # cygen.learn.symmetric
    start: Literal["identity", "fs", "base"] = "identity"
    residuals: Literal["relative", "absolute"] = "relative"


class AddModel(_NonKahler):
    name: Literal["add"]


class MultModel(_NonKahler):
    name: Literal["mult"]


class LdlModel(_NonKahler):
    name: Literal["ldl"]
    networks: Literal["shared", "per_class"] = "shared"


class BalancedModel(_Strict):
    name: Literal["donaldson"]
    degree: list[int] | None = None
    exponents: list[list[int]] | None = None
    scale: Positive | None = None


class Loss(_Strict):
    sigma: NonNegative | None = None
    kahler: NonNegative | None = None
    transition: NonNegative | None = None
    volume: NonNegative | None = None
    ricci: NonNegative | None = None
    dirichlet: NonNegative | None = None
    perelman: NonNegative | None = None
    flow: NonNegative | None = None


class Flow(_Strict):
    """The Kähler–Ricci flow trainer (loss.flow): an implicit Euler step of ``dt`` every
    ``fit_epochs`` epochs (docs/training.md, "The Kähler–Ricci flow")."""

    dt: Positive = 0.5
    fit_epochs: PositiveCount = 1


class LossPower(_Strict):
    kahler: Positive | None = None
    transition: Positive | None = None
    ricci: Positive | None = None


class Optimizer(_Strict):
    name: Literal["adam"] = "adam"
    lr: Positive = 1e-3
    schedule: Literal["constant", "cosine", "exponential"] = "constant"
    final_lr: NonNegative = 1e-5  # cosine: the learning rate at the end of horizon_epochs
    decay_rate: Annotated[float, Field(gt=0, le=1)] = 0.9  # exponential: factor per epoch
    warmup_epochs: Count = 0
    horizon_epochs: PositiveCount | None = None  # schedule length; None: the run's epochs
    b1: Annotated[float, Field(ge=0, lt=1)] = 0.9
    b2: Annotated[float, Field(ge=0, lt=1)] = 0.999
    eps: Positive = 1e-8


class LBFGS(_Strict):
    steps: Count = 0  # optional fine-tune after Adam
    points: PositiveCount = 8192
    memory: PositiveCount = 10


class Eval(_Strict):
    kahler_points: Count = 1000
    ricci_points: Count = 500
    chunk: PositiveCount = 2048
    symmetry_points: Count = 0  # Delta_sym per epoch if > 0
    symmetry_elements: PositiveCount = 8


class RunConfig(_Strict):
    """Everything a run's ``config.json`` holds; the run keys at the end are filled in by
    the trainer (a user's config may not set them)."""

    model: Annotated[PhiModel | AddModel | MultModel | LdlModel | BalancedModel,
                     Field(discriminator="name")]
    loss: Loss = Field(default_factory=Loss)
    optimizer: Optimizer = Field(default_factory=Optimizer)
    lbfgs: LBFGS = Field(default_factory=LBFGS)
    batch_size: PositiveCount = 64
    micro_batch: Count = 0  # >0: split batches into micro-batches (exact; less memory)
    val_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    sigma_gradient: Literal[SIGMA_GRADIENTS] = "auto"  # type: ignore[valid-type]
    loss_power: LossPower = Field(default_factory=LossPower)
    flow: Flow = Field(default_factory=Flow)
    dtype: Literal["float32", "float64"] = "float32"  # training; evaluation is float64
    steps_per_call: Count = 0  # optimiser steps per compiled call; 0: ~8192 points per call
    eval: Eval = Field(default_factory=Eval)
    # filled in by the trainer
    version: int | None = None
    source: str | None = None
    module_file: str | None = None
    data: str | None = None
    points: PositiveCount | None = None
    epochs: Count | None = None
    seed: Count | None = None
    name: str | None = None
    init: str | None = None
    identity: dict | None = None


RUN_KEYS = {"version", "source", "module_file", "data", "points", "epochs", "seed", "name",
            "identity"}



def _defaults() -> dict[str, Any]:
    """The schema's defaults as the plain dict a config starts from (the model and loss
    sections are filled per model: MODEL_DEFAULTS, LOSS_DEFAULTS)."""
    out: dict[str, Any] = {"model": {}, "loss": {}}
    for name, field in RunConfig.model_fields.items():
        if name in RUN_KEYS or name in ("model", "loss", "init"):
            continue
        default = field.get_default(call_default_factory=True)
        out[name] = default.model_dump() if isinstance(default, BaseModel) else default
    out["loss_power"] = {}
    return out


CONFIG_DEFAULTS: dict[str, Any] = _defaults()


def read_config(path: str | os.PathLike) -> dict:
    """A config override from a ``.toml`` or ``.json`` file (clean errors, with line and
    column for syntax errors)."""
    path = Path(path)
    data = read_bytes(path)
    try:
        if path.suffix == ".toml":
            value = tomllib.loads(data.decode("utf-8"))
        else:
            value = json.loads(data)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CygenError(f"not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}",
                         filename=str(path)) from None
    if not isinstance(value, dict):
        raise CygenError("a config must be a table (a JSON object)", filename=str(path))
    return value


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


def loss_powers(cfg: dict) -> tuple[tuple[str, float], ...]:
    """Config ``loss_power``: {term: p} for the residual terms (kahler, transition, ricci),
    trained as the weighted mean of |r|^p; 1 (the norm) where not given."""
    return tuple((name, float(p)) for name, p in sorted((cfg.get("loss_power") or {}).items())
                 if p is not None and name in RESIDUAL_TERMS and float(p) != 1.0)


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve_config(model: str, overrides: dict | None = None, *,
                   source: str | None = None) -> dict:
    """Defaults, then the model's defaults, then ``overrides`` (nested dicts merge), checked
    against :class:`RunConfig`.  ``source`` (the config file) names the file in errors;
    :class:`CygenError` is raised for any bad key or value."""
    overrides = upgrade_config(dict(overrides or {}))
    user_keys = set(overrides) & (RUN_KEYS - {"init"})
    if user_keys:
        raise CygenError(f"{', '.join(sorted(user_keys))}: set by the trainer, not by a config "
                         "(use the command's options)", filename=source)
    model_section = overrides.get("model", {})
    if not isinstance(model_section, dict):
        raise CygenError("model: expected a table", filename=source)
    name = model_section.get("name", model)
    if name not in MODEL_DEFAULTS:
        raise CygenError(f"model.name: unknown model {name!r}; choose from "
                         f"{', '.join(MODEL_DEFAULTS)}", filename=source)
    cfg = _merge(CONFIG_DEFAULTS, {"model": {"name": name, **MODEL_DEFAULTS[name]},
                                   "loss": LOSS_DEFAULTS[name]})
    cfg = _merge(cfg, overrides)
    try:
        RunConfig.model_validate(cfg)
    except ValidationError as exc:
        raise CygenError(_explain(exc), filename=source) from None
    if cfg["loss"].get("flow") and name != "phi":
        raise CygenError(f"loss.flow: the Kähler–Ricci flow moves a Kähler potential; it needs "
                         f"model phi, not {name}", filename=source)
    if cfg["loss"].get("perelman") and name == "phi":
        raise CygenError("loss.perelman: Perelman's F vanishes identically on Kähler metrics "
                         "such as phi's (docs/training.md, \"Perelman's entropy\"); train phi "
                         "with loss.dirichlet, its non-degenerate part", filename=source)
    return cfg


def stored_config(path: Path) -> dict:
    """A run's ``config.json``, read and checked against the schema (cygen 0.1's spellings
    upgraded), or a :class:`CygenError` naming the file and the bad key."""
    cfg = upgrade_config(read_json(path), warn=False)
    try:
        RunConfig.model_validate(cfg)
    except ValidationError as exc:
        raise CygenError(f"not a valid run configuration: {_explain(exc)}",
                         filename=str(path)) from None
    missing = {"module_file", "seed", "epochs"} - {k for k, v in cfg.items() if v is not None}
    if missing:
        raise CygenError(f"not a valid run configuration: {', '.join(sorted(missing))} missing",
                         filename=str(path))
    return cfg


def _explain(exc: ValidationError) -> str:
    """The first problems of a validation error, as ``dotted.key: what`` lines, with a
    "did you mean" for unknown keys."""
    lines = []
    for err in exc.errors()[:5]:
        loc = [str(x) for x in err["loc"] if not (err["loc"][:1] == ("model",)
                                                   and x in MODEL_DEFAULTS and x != err["loc"][-1])]
        key = ".".join(loc)
        if err["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key{_suggest(err['loc'])}")
        else:
            lines.append(f"{key}: {err['msg'].lower()} (got {err.get('input')!r})")
    more = len(exc.errors()) - len(lines)
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


SYNONYMS = {"learning_rate": "lr", "rate": "lr", "learningrate": "lr", "width": "widths",
            "layers": "widths", "activations": "activation", "batch": "batch_size",
            "batchsize": "batch_size", "epochs": "epochs"}
SECTIONS = {"model": None, "loss": Loss, "optimizer": Optimizer, "lbfgs": LBFGS,
            "loss_power": LossPower, "eval": Eval, "flow": Flow}
MODELS = {"phi": PhiModel, "add": AddModel, "mult": MultModel, "ldl": LdlModel,
          "donaldson": BalancedModel}


def _suggest(loc: tuple) -> str:
    """" (did you mean 'x'?)" from the keys allowed where ``loc`` points, if one is close,
    or the section that has a key of that name."""
    schema: Any = RunConfig
    for part in loc[:-1]:
        if part in MODELS and schema is None:  # the discriminated model section's tag
            schema = MODELS[part]
            continue
        schema = SECTIONS.get(part) if schema is RunConfig else None
    key, allowed = str(loc[-1]), list(getattr(schema, "model_fields", {}))
    if SYNONYMS.get(key.lower()) in allowed:
        return f" (did you mean {SYNONYMS[key.lower()]!r}?)"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if schema is RunConfig:  # a section's key at the top level
        for section, sub in SECTIONS.items():
            if sub is not None and key in sub.model_fields:
                return f" (did you mean {section}.{key}?)"
    return ""
