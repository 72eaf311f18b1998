"""The generic metric trainer: ``train`` (compile, sample, fit, evaluate) and ``evaluate``.

One trainer for every generated module (no per-manifold code).  The loop:

* points from :func:`cygen.sampling.sample` (or ``data=`` an ``.npz``), a deterministic
  90/10 train/validation split, every parameter-free quantity per point precomputed once in
  float64 (:func:`cygen.losses.prepare`) and cast to the training dtype;
* shuffled minibatches (a fresh permutation per epoch, a function of the seed and the
  epoch only); the optimiser step is compiled once, as a ``lax.scan`` over
  ``steps_per_call`` steps, and never retraced (``TRACES`` counts traces);
* validation after every epoch in float64 (sigma exactly as :func:`cygen.measure.sigma`);
* a checkpoint (atomic) after every epoch; ``resume=True`` continues exactly where the
  checkpoint stopped (same results as an uninterrupted run);
* a NaN/Inf in the loss or the gradients stops training cleanly: the last good checkpoint is
  kept and ``metrics.json`` says why; ``max_minutes`` stops at a wall-clock budget with a
  checkpoint written (mid-epoch positions resume exactly too).
"""

from __future__ import annotations

import collections
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cygen import losses, scale
from cygen.errors import CygenError
from cygen.io import atomic_write
from cygen.models import Model, Params, cast
from cygen.runs import (
    build_model,
    jsonable,
    load_checkpoint,
    load_module,
    load_run,
    loss_powers,
    model_key,
    module_file,
    read_config,
    resolve_config,
    save_checkpoint,
    write_json,
)

TRACES: collections.Counter = collections.Counter()  # traces of each compiled function
ProgressFn = Callable[[dict], None]


# ----------------------------------------------------------------------------- optimiser


def make_optimizer(ocfg: dict, steps_per_epoch: int, epochs: int) -> optax.GradientTransformation:
    """Adam with a constant, cosine or exponential learning-rate schedule (optax).

    The cosine schedule spans ``horizon_epochs`` (default ``epochs``), with an optional
    linear warm-up; after the horizon the learning rate stays at ``final_lr``.
    """
    if ocfg["name"] != "adam":
        raise ValueError(f"unknown optimizer {ocfg['name']!r} (adam; L-BFGS via config lbfgs)")
    lr = float(ocfg["lr"])
    horizon = int(ocfg.get("horizon_epochs") or epochs) * steps_per_epoch
    warmup = int(ocfg.get("warmup_epochs") or 0) * steps_per_epoch
    kind = ocfg["schedule"]
    if kind == "constant":
        schedule = optax.constant_schedule(lr)
    elif kind == "cosine":
        schedule = optax.warmup_cosine_decay_schedule(
            lr if warmup == 0 else lr * 1e-2, lr, warmup, max(horizon, warmup + 1),
            end_value=float(ocfg["final_lr"]))
    elif kind == "exponential":
        schedule = optax.exponential_decay(lr, steps_per_epoch, float(ocfg["decay_rate"]))
    else:
        raise ValueError(f"unknown schedule {kind!r} (constant, cosine, exponential)")
    return optax.adam(schedule, b1=ocfg["b1"], b2=ocfg["b2"], eps=ocfg["eps"])


# ----------------------------------------------------------------------------- the step


def _stats(model, geo, terms, params, batch):
    return jax.vmap(lambda pt: losses.point_stats(model, geo, terms, params, pt))(batch)


def loss_and_grad(model: Model, geo, alphas: dict[str, float], targets, micro: int | None,
                  params: Params, batch: losses.Point, exact_sigma: bool = False,
                  powers: tuple = ()):
    """(values, grads) of sum alpha_t term_t on a batch; exact micro-batching when ``micro``
    (``exact_sigma``, ``powers`` ((term, p) pairs): see :func:`cygen.losses.objective`)."""
    terms = tuple(alphas)
    powers = dict(powers)
    w = batch.weight
    if micro is None or micro >= w.shape[0]:
        def f(p):
            st = _stats(model, geo, terms, p, batch)
            consts = jax.lax.stop_gradient(losses.constants(st, w))
            return losses.objective(st, w, consts, alphas, targets, exact_sigma, powers)

        (_, values), grads = jax.value_and_grad(f, has_aux=True)(params)
        return values, grads
    n_micro = w.shape[0] // micro
    mbs = jax.tree.map(lambda a: a.reshape(n_micro, micro, *a.shape[1:]), batch)
    const_terms = tuple(t for t in terms if t in losses.CONSTANT_TERMS)
    first = jax.lax.map(lambda mb: _stats(model, geo, const_terms, params, mb), mbs)
    consts = losses.constants(jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), first), w)

    def body(acc, mb):
        def f(p):
            st = _stats(model, geo, terms, p, mb)
            return losses.objective(st, mb.weight, consts, alphas, targets, exact_sigma,
                                    powers)[0], st

        (_, st), g = jax.value_and_grad(f, has_aux=True)(params)
        return jax.tree.map(jnp.add, acc, g), st

    grads, st = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, params), mbs)
    st = jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:]), st)
    return losses.objective(st, w, consts, alphas, targets, powers=powers)[1], grads


def make_chunk_fn(model: Model, geo, alphas: dict[str, float], targets, micro: int | None,
                  optimizer: optax.GradientTransformation, batch_sharding=None,
                  exact_sigma: bool = False, powers: tuple = ()):
    """jit((params, opt_state, data, idx (K, B), valid (K,)) -> (params, opt_state, bad, sums)).

    K optimiser steps in one ``lax.scan``; steps with ``valid`` False change nothing (they pad
    the last call of an epoch).  A step whose loss or gradient is not finite is skipped and
    sets ``bad``.  ``sums`` are the loss terms summed over the valid steps.
    """

    def chunk(params, opt_state, data, idx, valid):
        TRACES["train_chunk"] += 1

        def step(carry, xs):
            params, opt_state, bad = carry
            i, ok_step = xs
            batch = jax.tree.map(lambda a: a[i], data)
            batch = scale.constrain(batch, batch_sharding)  # data parallel over a mesh
            values, grads = loss_and_grad(model, geo, alphas, targets, micro, params, batch,
                                          exact_sigma, powers)
            loss = sum(alphas[t] * values[t] for t in alphas)
            updates, new_opt = optimizer.update(grads, opt_state, params)
            new_params = optax.apply_updates(params, updates)
            finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
                [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
            ok = ok_step & finite
            params = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_params, params)
            opt_state = jax.tree.map(lambda n, o: jnp.where(ok, n, o), new_opt, opt_state)
            values = {**values, "loss": loss}
            values = {k: jnp.where(ok_step, v, 0.0) for k, v in values.items()}
            return (params, opt_state, bad | (ok_step & ~finite)), values

        (params, opt_state, bad), values = jax.lax.scan(
            step, (params, opt_state, jnp.asarray(False)), (idx, valid))
        return params, opt_state, bad, {k: jnp.sum(v) for k, v in values.items()}

    return jax.jit(chunk)


_CHUNK_FNS: dict = {}
_EVALUATORS: dict = {}


def exact_sigma(cfg: dict, net: Model) -> bool:
    """Config ``sigma_gradient``: "exact", "fixed" (eta_bar held, cymetric's) or "auto" (exact
    for models that can change their scale, ``ldl``/``add``/``mult``; fixed for Kähler ones)."""
    mode = cfg.get("sigma_gradient", "auto")  # resolve_config has checked it
    return mode == "exact" or (mode == "auto" and not net.kaehler)


def _cached_chunk_fn(net, geo, cfg, alphas, targets, micro, steps, mesh=None):
    """:func:`make_chunk_fn` cached per model, losses, optimiser and epoch length."""
    exact, powers = exact_sigma(cfg, net), loss_powers(cfg)
    key = (model_key(geo, cfg), tuple(sorted(alphas.items())), micro, steps, mesh,
           json.dumps(cfg["optimizer"], sort_keys=True), str(cfg["dtype"]), exact, powers)
    if key not in _CHUNK_FNS:
        if len(_CHUNK_FNS) > 8:
            _CHUNK_FNS.clear()
        optimizer = make_optimizer(cfg["optimizer"], steps, int(cfg["epochs"]))
        _CHUNK_FNS[key] = (optimizer, make_chunk_fn(net, geo, alphas, targets, micro, optimizer,
                                                    scale.batch_sharding(mesh), exact, powers))
    return _CHUNK_FNS[key]


def _cached_evaluator(net, geo, cfg) -> Evaluator:
    key = (model_key(geo, cfg), int(cfg["eval"]["chunk"]))
    if key not in _EVALUATORS:
        if len(_EVALUATORS) > 8:
            _EVALUATORS.clear()
        _EVALUATORS[key] = Evaluator(net, geo, int(cfg["eval"]["chunk"]))
    return _EVALUATORS[key]


# ----------------------------------------------------------------------------- evaluation


def _pad_chunks(tree, size: int):
    """Split a batched pytree into chunks of exactly ``size`` (the last padded by repetition)."""
    n = len(jax.tree.leaves(tree)[0])
    for start in range(0, n, size):
        stop = min(start + size, n)
        idx = np.minimum(np.arange(start, start + size), stop - 1)
        yield stop - start, jax.tree.map(lambda a, idx=idx: a[idx], tree)


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
                return jax.vmap(lambda pt: losses.point_stats(model, geo, terms, params, pt))(pts)

            self._fns[(name, terms)] = jax.jit(fn)
        return self._fns[(name, terms)]

    def stats(self, params: Params, pts: losses.Point, terms, name="val", chunk=None):
        fn = self._fn(name, tuple(sorted(terms)))
        parts = []
        for n, part in _pad_chunks(pts, chunk or self.chunk):
            out = fn(params, part)
            parts.append(jax.tree.map(lambda a, n=n: np.asarray(a)[:n], out))
        return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)


def validation(evaluator: Evaluator, params64: Params, pts: losses.Point, spec: dict,
               terms) -> dict:
    """Per-epoch validation: sigma (exactly :func:`cygen.measure.sigma`) and enabled terms."""
    terms = sorted(set(terms) - {"ricci"} | {"sigma"})
    stats = evaluator.stats(params64, pts, terms)
    out = losses.summarize(stats, np.asarray(pts.weight), spec)
    keep = {"sigma", *terms}
    return {k: v for k, v in out.items() if k in keep}


def final_metrics(evaluator: Evaluator, params64: Params, pts: losses.Point, spec: dict,
                  ecfg: dict) -> dict:
    """sigma, transition, volume (slopes), kaehler and ricci (on subsets), sigma of FS."""
    w = np.asarray(pts.weight)
    stats = evaluator.stats(params64, pts, ("sigma", "transition", "volume"), name="final")
    out = losses.summarize(stats, w, spec)
    out["sigma_fs"] = losses.measure.sigma(w, np.asarray(pts.eta_fs))
    n_k = min(int(ecfg.get("kaehler_points") or 0), len(w))
    out["kaehler"] = None
    if n_k > 0:
        sub = jax.tree.map(lambda a: a[:n_k], pts)
        k = evaluator.stats(params64, sub, ("kaehler",), name="kaehler",
                            chunk=min(evaluator.chunk, 512))["kaehler"]
        out["kaehler"] = float(np.sum(w[:n_k] * k) / np.sum(w[:n_k]))
    n_r = min(int(ecfg.get("ricci_points") or 0), len(w))
    out["ricci"] = None
    if n_r > 0:
        sub = jax.tree.map(lambda a: a[:n_r], pts)
        r = evaluator.stats(params64, sub, ("ricci",), name="ricci",
                            chunk=min(evaluator.chunk, 256))
        out["ricci"] = losses.ricci_measure(w[:n_r], r["eta"], r["ricci"], evaluator.model.dim)
    return out


# ----------------------------------------------------------------------------- train


def _load_module(source_or_module) -> ModuleType:
    if hasattr(source_or_module, "GEOMETRY"):
        return source_or_module
    from cygen.compiler import load

    return load(source_or_module)


def _dataset(run: Path, cfg: dict):
    from cygen.dataset import Dataset

    path = Path(cfg["data"])
    ds = Dataset.load(path if path.is_absolute() else run / path, mmap=True)  # paged in
    n = int(cfg["points"])
    if n < len(ds):
        ds = Dataset(ds.points[:n], ds.weights[:n], ds.omega_sq[:n], ds.chart[:n], ds.metadata)
    return ds


def _split(n: int, seed: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([seed, 7]).permutation(n)
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    return perm[n_val:], perm[:n_val]


def _calls(steps: int, batch: int, steps_per_call: int) -> tuple[int, int]:
    """(calls per epoch, steps per call) covering ``steps`` with little padding."""
    target = steps_per_call or max(1, 8192 // batch)
    target = max(1, min(target, steps))
    n_calls = math.ceil(steps / target)
    return n_calls, math.ceil(steps / n_calls)


def train(
    source_or_module: Any,
    out_dir: str | os.PathLike,
    *,
    points: int | None = None,
    epochs: int | None = None,
    max_minutes: float | None = None,
    seed: int = 0,
    model: str = "phi",
    config: dict | str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    resume: bool = False,
    progress: ProgressFn | None = None,
    init: str | None = None,
    devices: int | None = 1,
) -> dict:
    """Train a metric on a manifold; writes the run directory and returns ``metrics.json``.

    ``source_or_module``: a ``.cy``/``.py`` path or a loaded module (ignored on resume: the
    run's own copy is used).  ``points`` (default 100000) are sampled with ``seed`` unless
    ``data`` (an ``.npz`` from ``cygen sample``) is given.  ``config``: a dict or a
    ``.toml``/``.json`` file overriding :data:`cygen.runs.DEFAULTS`.  With ``resume=True`` the
    run continues from its checkpoint (``epochs`` may raise the epoch count; everything else
    comes from the run's ``config.json``).  ``progress`` is called with event dicts
    (``{"event": "step" | "epoch" | "stop", ...}``).  ``init="donaldson:K"`` (or config key
    ``init``) starts from Donaldson's balanced metric of degree K (stored in the run's model
    config as ``base``; :mod:`cygen.donaldson`): ``phi`` on top of its potential, ``ldl``,
    ``add`` and ``mult`` in its Cholesky frame (``start = "base"``).
    """
    t0 = time.monotonic()
    run = Path(out_dir)
    say = progress or (lambda event: None)
    if resume and (run / "config.json").exists():
        cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
        if epochs is not None and int(epochs) != cfg["epochs"]:
            cfg["epochs"] = int(epochs)
            write_json(run / "config.json", cfg)
        module = load_module(run, cfg)
        resumed = (run / "checkpoint.npz").exists()
    else:
        if (run / "checkpoint.npz").exists():
            raise CygenError(f"{run} already holds a run; pass resume=True or use a new directory")
        overrides = read_config(config) if isinstance(config, str | os.PathLike) else config
        cfg = resolve_config(model, overrides)
        module = _load_module(source_or_module)
        if init is not None:
            cfg["init"] = init
        if cfg.get("init"):  # "donaldson:K": on top of the balanced metric (stored)
            if cfg["model"]["name"] not in ("phi", "ldl", "add", "mult"):
                raise CygenError(f"init {cfg['init']!r} needs the phi, ldl, add or mult model")
            from cygen.donaldson import init_base

            cfg["model"]["base"] = init_base(source_or_module, cfg["init"], int(seed))
            if cfg["model"]["name"] != "phi":  # the others start in its Cholesky frame
                cfg["model"]["start"] = "base"
        name, code = module_file(module)
        run.mkdir(parents=True, exist_ok=True)
        atomic_write(run / name, code)
        module = load_module(run, {"module_file": name})  # one module object per code hash
        cfg |= {"version": 1, "name": module.SPEC["name"], "source": module.SPEC["source"],
                "module_file": name, "seed": int(seed), "epochs": int(epochs or 20)}
        if cfg["optimizer"]["horizon_epochs"] is None:
            cfg["optimizer"]["horizon_epochs"] = cfg["epochs"]
        if data is not None:
            from cygen.dataset import Dataset

            cfg["data"] = str(Path(data).resolve())
            available = len(Dataset.load(cfg["data"]))
            cfg["points"] = min(int(points), available) if points else available
        else:
            from cygen.sampling import sample

            n = int(points or 100_000)
            sample(module, n, seed).save(run / "data.npz")
            cfg["data"], cfg["points"] = "data.npz", n
        write_json(run / "config.json", cfg)
        resumed = False

    geo, spec = module.GEOMETRY, module.SPEC
    seed = int(cfg["seed"])
    ds = _dataset(run, cfg)
    train_idx, val_idx = _split(len(ds), seed, float(cfg["val_fraction"]))
    net = build_model(geo, cfg, spec)
    alphas = {k: float(v) for k, v in cfg["loss"].items() if v}
    if not alphas:
        raise ValueError("every loss weight is zero")
    dtype = jnp.dtype(cfg["dtype"])
    targets = losses.slope_targets(spec)

    t_prep = time.monotonic()
    from cygen.dataset import Rows  # the training split, read from the map chunk by chunk

    train_pts = losses.prepare(net, geo, tuple(alphas), Rows(ds.points, train_idx),
                               Rows(ds.weights, train_idx), dtype=dtype)
    mesh = scale.mesh(devices)  # None: one device; else rows sharded, params replicated
    train_pts = scale.shard_rows(train_pts, mesh)  # rows padded to the mesh; never indexed
    val_pts = losses.prepare(net, geo, ("kaehler", "transition", "volume"), ds.points[val_idx],
                             ds.weights[val_idx])
    prep_s = time.monotonic() - t_prep

    batch = int(cfg["batch_size"])
    n_train = len(train_idx)
    if batch > n_train:
        raise ValueError(f"batch_size {batch} exceeds the {n_train} training points")
    micro = int(cfg["micro_batch"] or 0)
    micro = micro if 0 < micro < batch and batch % micro == 0 else None
    steps = n_train // batch
    n_calls, per_call = _calls(steps, batch, int(cfg["steps_per_call"]))
    if batch % scale.size(mesh):
        raise ValueError(f"batch_size {batch} is not divisible by {scale.size(mesh)} devices")
    optimizer, chunk_fn = _cached_chunk_fn(net, geo, cfg, alphas, targets, micro, steps, mesh)
    evaluator = _cached_evaluator(net, geo, cfg)
    n_sym = int(cfg["eval"].get("symmetry_points", 0))  # Delta_sym per epoch (--log-symmetry)
    sym_fn = None if n_sym <= 0 else _symmetry_fn(net, module, ds.points[val_idx][:n_sym], cfg)

    params = cast(net.init(jax.random.PRNGKey(seed)), dtype)
    opt_state = optimizer.init(params)
    params, opt_state = scale.replicate((params, opt_state), mesh)
    meta = {"epoch": 0, "call": 0, "sums": {}, "wall_s": 0.0, "train_s": 0.0}
    ckpt = run / "checkpoint.npz"
    if resumed:
        params, opt_state, meta = load_checkpoint(ckpt, params, opt_state)
        params, opt_state = jax.tree.map(jnp.asarray, (params, opt_state))
        params, opt_state = scale.replicate((params, opt_state), mesh)
    else:
        save_checkpoint(ckpt, params, opt_state, meta)
    log_path = run / "log.jsonl"
    log = _read_log(log_path, meta["epoch"])
    session_wall0 = float(meta["wall_s"])
    train_s = float(meta["train_s"])
    train_cpu_s = float(meta.get("train_cpu_s", 0.0))

    def wall() -> float:
        return session_wall0 + time.monotonic() - t0

    status, message = "completed", f"trained {cfg['epochs']} epochs"
    epoch, call, sums = int(meta["epoch"]), int(meta["call"]), dict(meta["sums"])
    total_epochs = int(cfg["epochs"])
    say({"event": "start", "epochs": total_epochs, "epoch": epoch, "calls": n_calls,
         "steps": steps, "points": n_train, "prep_s": prep_s})
    stop = False
    while epoch < total_epochs and not stop:
        perm = np.random.default_rng([seed, 1, epoch]).permutation(n_train)
        idx = np.zeros(n_calls * per_call * batch, np.int32)
        idx[: steps * batch] = perm[: steps * batch]
        idx = idx.reshape(n_calls, per_call, batch)
        valid = (np.arange(n_calls * per_call) < steps).reshape(n_calls, per_call)
        while call < n_calls:
            tc, cc = time.monotonic(), time.process_time()
            params, opt_state, bad, part = chunk_fn(params, opt_state, train_pts,
                                                    jnp.asarray(idx[call]),
                                                    jnp.asarray(valid[call]))
            bad = bool(bad)
            train_s += time.monotonic() - tc
            train_cpu_s += time.process_time() - cc
            if bad:
                status = "non_finite"
                message = (f"stopped in epoch {epoch + 1}: the loss or its gradient became NaN/Inf;"
                           f" kept the last good checkpoint (epoch {meta['epoch']}) in {ckpt}. "
                           "Try a smaller learning rate or check the data.")
                stop = True
                break
            for k, v in part.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            call += 1
            done = int(valid[:call].sum())
            say({"event": "step", "epoch": epoch + 1, "epochs": total_epochs, "step": done,
                 "steps": steps, "loss": {k: v / done for k, v in sums.items()}})
            if max_minutes is not None and time.monotonic() - t0 > 60 * max_minutes \
                    and call < n_calls:
                meta = {"epoch": epoch, "call": call, "sums": sums, "wall_s": wall(),
                        "train_s": train_s, "train_cpu_s": train_cpu_s}
                save_checkpoint(ckpt, params, opt_state, meta)
                status, stop = "time_limit", True
                message = (f"stopped at the {max_minutes} min budget in epoch {epoch + 1} "
                           f"(step {done}/{steps}); resume=True continues")
                break
        if stop:
            break
        params64 = cast(params, jnp.float64)
        val = validation(evaluator, params64, val_pts, spec, alphas)
        line = {"epoch": epoch + 1, "wall_s": round(wall(), 3), "train_s": round(train_s, 3),
                "train_cpu_s": round(train_cpu_s, 3),
                "train": {k: v / steps for k, v in sums.items()}, "val": val}
        if sym_fn is not None:
            line["delta_sym"] = sym_fn(params64)
        if not all(np.isfinite(v) for v in val.values() if isinstance(v, float)):
            status, stop = "non_finite", True
            message = (f"stopped after epoch {epoch + 1}: validation is NaN/Inf; kept the last "
                       f"good checkpoint (epoch {meta['epoch']}) in {ckpt}")
            break
        epoch, call, sums = epoch + 1, 0, {}
        log.append(jsonable(line))
        atomic_write(log_path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in log))
        meta = {"epoch": epoch, "call": 0, "sums": {}, "wall_s": wall(), "train_s": train_s,
                "train_cpu_s": train_cpu_s}
        save_checkpoint(ckpt, params, opt_state, meta)
        flat = {f"val_{k}": v for k, v in val.items() if isinstance(v, float)}
        say({"event": "epoch", "epochs": total_epochs, "loss": line["train"].get("loss"),
             **flat, **line})
        if max_minutes is not None and time.monotonic() - t0 > 60 * max_minutes \
                and epoch < total_epochs:
            status, stop = "time_limit", True
            message = f"stopped at the {max_minutes} min budget after epoch {epoch}"

    if status == "completed" and int(cfg["lbfgs"]["steps"]) > 0 and not meta.get("lbfgs"):
        params = lbfgs_finetune(net, geo, alphas, targets, params,
                                jax.tree.map(lambda a: a[:n_train], train_pts), cfg["lbfgs"], say,
                                loss_powers(cfg))
        val = validation(evaluator, cast(params, jnp.float64), val_pts, spec, alphas)
        log.append(jsonable({"epoch": epoch, "phase": "lbfgs", "wall_s": round(wall(), 3),
                             "train_s": round(train_s, 3), "val": val}))
        atomic_write(log_path, "".join(json.dumps(x, sort_keys=True) + "\n" for x in log))
        meta = {**meta, "lbfgs": True, "wall_s": wall()}
        save_checkpoint(ckpt, params, opt_state, meta)
    if status == "non_finite":
        params, _, meta = load_checkpoint(ckpt, params, None)
    params64 = cast(params, jnp.float64)
    metrics = final_metrics(evaluator, params64, val_pts, spec, cfg["eval"])
    metrics |= {"status": status, "message": message, "epochs": int(meta["epoch"]),
                "wall_s": round(wall(), 3), "train_s": round(float(meta["train_s"]), 3),
                "train_cpu_s": round(float(meta.get("train_cpu_s", 0.0)), 3),
                "n_train": n_train, "n_val": len(val_idx), "model": cfg["model"]["name"],
                "name": spec["name"]}
    write_json(run / "metrics.json", metrics)
    say({"event": "stop", "status": status, "message": message})
    return jsonable(metrics)


def _symmetry_fn(net: Model, module: ModuleType, points: np.ndarray, cfg: dict):
    """``params -> Delta_sym`` on ``points`` (cygen.symmetry_measure)."""
    from cygen.symmetry_measure import model_delta_sym

    return model_delta_sym(net, module, points, int(cfg["eval"].get("symmetry_elements", 8)),
                           int(cfg["seed"]))


def _read_log(path: Path, epochs: int) -> list[dict]:
    """The log's lines for the first ``epochs`` epochs (a resumed run drops any later ones)."""
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [x for x in lines if x["epoch"] <= epochs]


# ----------------------------------------------------------------------------- L-BFGS


def lbfgs_finetune(model: Model, geo, alphas, targets, params: Params, pts: losses.Point,
                   lcfg: dict, say: ProgressFn, powers: tuple = ()) -> Params:
    """Full-batch L-BFGS (optax.lbfgs, zoom line search) on a fixed training subset.

    The objective is the true one (no ``stop_gradient`` on eta_bar), so values and gradients
    are consistent for the line search.  ``powers``: (term, p) pairs, as in
    :func:`loss_and_grad`.
    """
    n = min(int(lcfg["points"]), len(pts.weight))
    sub = jax.tree.map(lambda a: a[:n], pts)
    terms = tuple(alphas)

    def f(p):
        st = _stats(model, geo, terms, p, sub)
        values = losses.objective(st, sub.weight, losses.constants(st, sub.weight), alphas,
                                  targets, powers=dict(powers))[1]
        return sum(alphas[t] * values[t] for t in alphas)

    opt = optax.lbfgs(memory_size=int(lcfg["memory"]))
    value_and_grad = optax.value_and_grad_from_state(f)

    @jax.jit
    def step(carry):
        TRACES["lbfgs"] += 1
        p, state = carry
        value, grad = value_and_grad(p, state=state)
        updates, state = opt.update(grad, state, p, value=value, grad=grad, value_fn=f)
        return (optax.apply_updates(p, updates), state), value

    carry = (params, opt.init(params))
    for i in range(int(lcfg["steps"])):
        new, value = step(carry)
        if not all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(new[0])):
            break
        carry = new
        say({"event": "lbfgs", "step": i + 1, "steps": int(lcfg["steps"]),
             "loss": float(value)})
    return carry[0]


# ----------------------------------------------------------------------------- evaluate


def evaluate(run_dir: str | os.PathLike, points: int = 10_000, seed: int | None = None,
             *, data: str | os.PathLike | None = None, config: dict | None = None) -> dict:
    """Evaluate a trained run in float64 on ``points`` fresh points sampled with ``seed``
    (default: the run's seed + 1), or on the points of ``data`` (an ``.npz``).

    Returns the measures of ``metrics.json`` (``config`` may override ``eval`` settings such
    as ``ricci_points``) plus ``points`` and ``seed``.
    """
    from cygen.dataset import Dataset
    from cygen.sampling import sample

    run = load_run(run_dir)
    seed = int(run.config["seed"]) + 1 if seed is None else int(seed)
    ds = Dataset.load(data) if data is not None else sample(run.module, int(points), seed)
    geo = run.module.GEOMETRY
    cfg = {**run.config, "eval": {**run.config["eval"], **(config or {})}}
    pts = losses.prepare(run.model, geo, ("kaehler", "transition", "volume"), ds.points,
                         ds.weights)
    out = final_metrics(_cached_evaluator(run.model, geo, cfg), run.params, pts,
                        run.module.SPEC, cfg["eval"])
    out |= {"points": len(ds), "seed": None if data is not None else seed,
            "data": None if data is None else str(data), "run": str(run.path),
            "model": run.config["model"]["name"], "name": run.module.SPEC["name"]}
    return jsonable(out)


__all__ = ["TRACES", "evaluate", "load_run", "make_optimizer", "train"]
