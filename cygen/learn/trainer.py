"""The generic metric trainer: ``train`` = set-up, data, fit loop, finish.

One trainer for every generated module (no per-manifold code).  The loop:

* points from ``cygen.sampling.sampler`` (or ``data=`` an ``.npz``), a deterministic
  90/10 train/validation split (``cygen.learn.data.split``), every parameter-free
  quantity per point precomputed once in float64 (``cygen.learn.losses.prepare``) and
  cast to the training dtype;
* shuffled minibatches (a fresh permutation per epoch, a function of the seed and the
  epoch only); the optimiser step is compiled once (``cygen.learn.step``), as a
  ``lax.scan`` over ``steps_per_call`` steps, and never retraced;
* validation after every epoch in float64 (``cygen.learn.evaluation``);
* a checkpoint (atomic) after every epoch; ``resume=True`` continues exactly where the
  checkpoint stopped (same results as an uninterrupted run);
* with ``model.ramp_epochs`` K, the seed's lambda schedule: the networks' outputs are
  scaled by lambda = min(1, epoch / K), set at the start of each epoch (stored with the
  parameters, so checkpoints and resumes keep it);
* a NaN/Inf in the loss or the gradients stops training cleanly: the last good checkpoint is
  kept and ``metrics.json`` says why; ``max_minutes`` stops at a wall-clock budget with a
  checkpoint written (mid-epoch positions resume exactly too).
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cygen.compiler.loader import as_module, identity, same_manifold
from cygen.core.errors import CygenError
from cygen.core.io import atomic_write, jsonable, read_bytes, read_text, write_json
from cygen.core.progress import Progress
from cygen.geometry import scale
from cygen.learn import losses
from cygen.learn.checkpoint import (
    TRAINING_META,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from cygen.learn.config import (
    CONFIG_DEFAULTS,
    loss_powers,
    read_config,
    resolve_config,
    stored_config,
)
from cygen.learn.data import run_dataset, split
from cygen.learn.donaldson import init_base
from cygen.learn.evaluation import (
    VALIDATION_TERMS,
    Evaluator,
    cached_evaluator,
    final_metrics,
    validation,
)
from cygen.learn.models import Model, Params, cast
from cygen.learn.optim import lbfgs_finetune
from cygen.learn.runs import (
    FLOW_STATE,
    build_model,
    load_module,
    prepare_run_directory,
    store_module,
)
from cygen.learn.step import TRACES, cached_chunk_fn, calls
from cygen.learn.symmetry_measure import model_delta_sym
from cygen.sampling.dataset import Dataset, recorded_identity
from cygen.sampling.sampler import sample

__all__ = ["TRACES", "progress_callback", "train"]

ProgressFn = Callable[[dict], None]


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
    overwrite: bool = False,
) -> dict:
    """Train a Ricci-flat metric on a manifold; writes the run directory (``cygen train``).

    The run directory holds the config, the points, a copy of the module, the checkpoint
    (after every epoch), ``log.jsonl`` and ``metrics.json`` ([training](training.md)).
    Nothing is written before the config, the data's manifold and the directory are checked.

    Parameters
    ----------
    source_or_module : str or os.PathLike or module
        A ``.cy``/``.py`` path or a loaded module (on resume, the run's own copy is used).
    out_dir : str or os.PathLike
        The run directory: empty or absent for a new run, an existing run of the same
        manifold for ``resume``.
    points : int, optional
        How many points to sample with ``seed`` (default 100000), 90/10 split into
        training and validation; ignored when ``data`` is given.
    epochs : int, optional
        Epochs (default 20; on resume, may raise the run's count).
    max_minutes : float, optional
        Stop at this wall-clock budget, with a checkpoint (resumable exactly).
    seed : int, optional
        The seed of the points, the initialisation and the batches.
    model : {"phi", "ldl", "add", "mult"}, optional
        The ansatz: a Kähler potential φ on top of FS (``phi``), the seed's g = L D L†
        (``ldl``), or FS plus or times a network (``add``, ``mult``).
    config : dict or str or os.PathLike, optional
        Overrides of ``cygen.learn.config.CONFIG_DEFAULTS`` (a dict, ``.toml`` or ``.json``).
    data : str or os.PathLike, optional
        An ``.npz`` from ``cygen sample`` to train on instead of fresh points.
    resume : bool, optional
        Continue from the checkpoint (the same results as an uninterrupted run).
    progress : callable, optional
        Called with event dicts (``{"event": "start" | "step" | "epoch" | ...}``);
        ``progress_callback`` draws them on a progress bar.
    init : str, optional
        ``"donaldson:K"`` starts from Donaldson's balanced metric of degree K: ``phi`` on
        top of its potential, ``ldl``, ``add`` and ``mult`` in its Cholesky frame.
    devices : int or None, optional
        Data-parallel over this many devices (``None``/0: all).
    overwrite : bool, optional
        Replace an existing run directory.

    Returns
    -------
    dict
        ``metrics.json``: ``status`` (``"completed"``, or why it stopped), ``epochs``,
        ``sigma`` and ``sigma_fs`` (validation σ of the learned metric and of FS),
        ``kahler``, ``transition``, ``ricci``, volume and slopes, timings.

    Raises
    ------
    cygen.core.errors.CygenError
        For a bad config, data of another manifold, or a directory that is not empty.

    Examples
    --------
    A seconds-long run on the flat torus (a real one: ``points=100_000, epochs=20``):

    >>> import os, tempfile, cygen
    >>> run_dir = os.path.join(tempfile.mkdtemp(), "torus")
    >>> config = {"model": {"widths": [8]}, "batch_size": 32,
    ...           "eval": {"kahler_points": 0, "ricci_points": 0}}
    >>> metrics = cygen.train("manifolds/torus.cy", run_dir, points=128, epochs=1,
    ...                       config=config)
    >>> metrics["status"], metrics["epochs"], metrics["sigma"] > 0
    ('completed', 1, True)
    >>> sorted(f for f in os.listdir(run_dir) if not f.startswith("module_"))
    ['checkpoint.npz', 'config.json', 'data.npz', 'log.jsonl', 'metrics.json']
    """
    clock = _Clock(time.monotonic())
    run = Path(out_dir)
    say = progress or (lambda event: None)
    if resume:
        cfg, module = _resume(run, source_or_module, epochs)
    else:
        cfg, module = _create(run, source_or_module, points=points, epochs=epochs, seed=seed,
                              model=model, config=config, data=data, init=init,
                              overwrite=overwrite)
    setup = _setup(run, cfg, module, devices)
    state = _start_state(setup, resume)
    clock.offset = float(state.meta["wall_s"])
    _fit(setup, state, say, clock, max_minutes)
    return _finish(setup, state, say, clock)


# ----------------------------------------------------------------------------- set-up


def _resume(run: Path, source_or_module: Any, epochs: int | None) -> tuple[dict, ModuleType]:
    """The stored run (``epochs`` raised if asked), after checking that it exists, is
    complete and is of ``source_or_module``'s manifold."""
    if not (run / "config.json").exists() or not (run / "checkpoint.npz").exists():
        raise CygenError("no run to resume here (no config.json and checkpoint.npz); "
                         "train without --resume to start one", filename=str(run))
    cfg = stored_config(run / "config.json")
    module = load_module(run, cfg)
    if source_or_module is not None:
        same_manifold(identity(module.SPEC), identity(as_module(source_or_module).SPEC),
                      str(source_or_module), f"the run {run}")
    _, meta = read_checkpoint(run / "checkpoint.npz", TRAINING_META)  # all checked first
    logged = [x for x in _read_log(run / "log.jsonl", int(meta["epoch"])) if "phase" not in x]
    if len(logged) < int(meta["epoch"]):
        raise CygenError(f"holds {len(logged)} epochs, but the checkpoint is at epoch "
                         f"{meta['epoch']}: the run's history is incomplete",
                         filename=str(run / "log.jsonl"))
    run_dataset(run, cfg)
    if epochs is not None and int(epochs) != cfg["epochs"]:
        cfg["epochs"] = int(epochs)
        write_json(run / "config.json", cfg)
    return cfg, module


def _create(run: Path, source_or_module: Any, *, points, epochs, seed, model, config, data,
            init, overwrite) -> tuple[dict, ModuleType]:
    """A new run directory: the resolved config, the module's copy and the points."""
    source = str(config) if isinstance(config, str | os.PathLike) else None
    overrides = read_config(config) if source is not None else config
    cfg = resolve_config(model, overrides, source=source)
    module = as_module(source_or_module)
    data_set = None
    if data is not None:
        data_set = Dataset.load(data)
        same_manifold(identity(module.SPEC), recorded_identity(data_set.metadata), str(data),
                      str(source_or_module))
    n = (min(int(points), len(data_set)) if points else len(data_set)) if data_set is not None \
        else int(points or 100_000)
    _check_sizes(cfg, n)
    prepare_run_directory(run, overwrite)
    if init is not None:
        cfg["init"] = init
    if cfg.get("init"):  # "donaldson:K": on top of the balanced metric (stored)
        if cfg["model"]["name"] not in ("phi", "ldl", "add", "mult"):
            raise CygenError(f"init {cfg['init']!r} needs the phi, ldl, add or mult model")
        cfg["model"]["base"] = init_base(module, cfg["init"], int(seed))
        if cfg["model"]["name"] != "phi":  # the others start in its Cholesky frame
            cfg["model"]["start"] = "base"
    name, module = store_module(run, module)  # one module object per code hash
    cfg |= {"version": 1, "name": module.SPEC["name"], "source": module.SPEC["source"],
            "module_file": name, "seed": int(seed), "epochs": int(epochs or 20),
            "identity": identity(module.SPEC), "points": n}
    if cfg["optimizer"]["horizon_epochs"] is None:
        cfg["optimizer"]["horizon_epochs"] = cfg["epochs"]
    if data_set is not None:
        cfg["data"] = str(Path(data).resolve())
    else:
        sample(module, n, seed, purpose="train").save(run / "data.npz")
        cfg["data"] = "data.npz"
    write_json(run / "config.json", cfg)
    return cfg, module


def _check_sizes(cfg: dict, n: int) -> None:
    """The batch must fit in the training split of ``n`` points (checked before sampling)."""
    n_train = n - min(max(1, round(float(cfg["val_fraction"]) * n)), n - 1)
    if n < 2 or int(cfg["batch_size"]) > n_train:
        raise CygenError(f"batch_size {cfg['batch_size']} exceeds the {max(n_train, 0)} "
                         f"training points of {n} (val_fraction {cfg['val_fraction']}): use "
                         "more points or a smaller batch")


@dataclass
class _Setup:
    """Everything a run's loop needs that does not change during it."""

    run: Path
    cfg: dict
    module: ModuleType
    net: Model
    alphas: dict[str, float]
    targets: np.ndarray
    train_pts: losses.Point
    val_pts: losses.Point
    n_train: int
    n_val: int
    batch: int
    steps: int
    n_calls: int
    per_call: int
    optimizer: Any
    chunk_fn: Callable
    evaluator: Evaluator
    sym_fn: Callable | None
    mesh: Any
    prep_s: float
    flow_fn: Callable | None = None  # loss flow: (params, points) -> (phi, sigma), compiled once

    @property
    def spec(self) -> dict:
        return self.module.SPEC


def _setup(run: Path, cfg: dict, module: ModuleType, devices: int | None) -> _Setup:
    """The data, the model, the compiled step and the evaluator of a run."""
    geo, spec = module.GEOMETRY, module.SPEC
    seed = int(cfg["seed"])
    ds = run_dataset(run, cfg)
    train_idx, val_idx = split(len(ds), seed, float(cfg["val_fraction"]))
    net = build_model(geo, cfg, spec)
    alphas = {k: float(v) for k, v in cfg["loss"].items() if v}
    if not alphas:
        raise ValueError("every loss weight is zero")
    targets = np.asarray(spec["slope_targets"], float)  # exact, from the compiler
    t_prep = time.monotonic()
    train_pts = losses.prepare(net, geo, tuple(alphas), ds.rows(train_idx),
                               dtype=jnp.dtype(cfg["dtype"]))
    mesh = scale.mesh(devices)  # None: one device; else rows sharded, params replicated
    if "flow" in alphas:  # the flow's anchor and step, set at every step (_set_flow_targets)
        zeros = np.zeros(len(train_idx), jnp.dtype(cfg["dtype"]))
        train_pts = train_pts._replace(target=zeros, step=zeros)
    train_pts = scale.shard_rows(train_pts, mesh)  # rows padded to the mesh; never indexed
    val_pts = losses.prepare(net, geo, VALIDATION_TERMS, ds.subset(val_idx))
    prep_s = time.monotonic() - t_prep
    batch, n_train = int(cfg["batch_size"]), len(train_idx)
    if batch > n_train:
        raise ValueError(f"batch_size {batch} exceeds the {n_train} training points")
    if batch % scale.size(mesh):
        raise ValueError(f"batch_size {batch} is not divisible by {scale.size(mesh)} devices")
    micro = int(cfg["micro_batch"] or 0)
    micro = micro if 0 < micro < batch and batch % micro == 0 else None
    steps = n_train // batch
    n_calls, per_call = calls(steps, batch, int(cfg["steps_per_call"]))
    optimizer, chunk_fn = cached_chunk_fn(net, geo, cfg, alphas, targets, micro, steps, mesh)
    n_sym = int(cfg["eval"].get("symmetry_points", 0))  # Delta_sym per epoch (--log-symmetry)
    sym_fn = None if n_sym <= 0 else model_delta_sym(
        net, module, ds.points[val_idx][:n_sym], int(cfg["eval"].get("symmetry_elements", 8)),
        seed)
    flow_fn = None if "flow" not in alphas else jax.jit(
        lambda p, pts: losses.flow_anchor(net, p, pts, n_train))
    return _Setup(run, cfg, module, net, alphas, targets, train_pts, val_pts, n_train,
                  len(val_idx), batch, steps, n_calls, per_call, optimizer, chunk_fn,
                  cached_evaluator(net, geo, cfg), sym_fn, mesh, prep_s, flow_fn)


@dataclass
class _State:
    """The loop's position and everything a checkpoint holds."""

    params: Params
    opt_state: Any
    meta: dict
    log: list[dict]
    epoch: int = 0
    call: int = 0
    sums: dict = field(default_factory=dict)
    train_s: float = 0.0
    train_cpu_s: float = 0.0
    status: str = "completed"
    message: str = ""

    def checkpoint_meta(self, clock: _Clock, **extra: Any) -> dict:
        return {"epoch": self.epoch, "call": self.call, "sums": self.sums,
                "wall_s": clock.wall(), "train_s": self.train_s,
                "train_cpu_s": self.train_cpu_s, **extra}


@dataclass
class _Clock:
    """Wall time of the run: this session's since ``t0`` plus earlier sessions' ``offset``."""

    t0: float
    offset: float = 0.0

    def wall(self) -> float:
        return self.offset + time.monotonic() - self.t0

    def session_minutes(self) -> float:
        return (time.monotonic() - self.t0) / 60


def _start_state(s: _Setup, resumed: bool) -> _State:
    """Fresh parameters (checkpointed at once), or the stored checkpoint of a resumed run."""
    params = cast(s.net.init(jax.random.PRNGKey(int(s.cfg["seed"]))), jnp.dtype(s.cfg["dtype"]))
    opt_state = s.optimizer.init(params)
    params, opt_state = scale.replicate((params, opt_state), s.mesh)
    meta = {"epoch": 0, "call": 0, "sums": {}, "wall_s": 0.0, "train_s": 0.0}
    ckpt = s.run / "checkpoint.npz"
    if resumed:
        params, opt_state, meta = load_checkpoint(ckpt, params, opt_state, TRAINING_META)
        params, opt_state = jax.tree.map(jnp.asarray, (params, opt_state))
        params, opt_state = scale.replicate((params, opt_state), s.mesh)
    else:
        save_checkpoint(ckpt, params, opt_state, meta)
    return _State(params, opt_state, meta, _read_log(s.run / "log.jsonl", meta["epoch"]),
                  int(meta["epoch"]), int(meta["call"]), dict(meta["sums"]),
                  float(meta["train_s"]), float(meta.get("train_cpu_s", 0.0)),
                  message=f"trained {s.cfg['epochs']} epochs")


def _read_log(path: Path, epochs: int) -> list[dict]:
    """The log's lines for the first ``epochs`` epochs (a resumed run drops any later ones)."""
    if not path.exists():
        return []
    lines = []
    for number, text in enumerate(read_text(path).splitlines(), 1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            keep = int(line["epoch"]) <= epochs
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise CygenError(f"line {number} is not a log entry", filename=str(path)) from None
        if keep:
            lines.append(line)
    return lines


# ----------------------------------------------------------------------------- fit loop


def _fit(s: _Setup, st: _State, say: ProgressFn, clock: _Clock,
         max_minutes: float | None) -> None:
    """Epochs until done, a non-finite step, or the time budget (``st`` says which)."""
    total = int(s.cfg["epochs"])
    say({"event": "start", "epochs": total, "epoch": st.epoch, "calls": s.n_calls,
         "steps": s.steps, "points": s.n_train, "prep_s": s.prep_s})
    while st.epoch < total:
        if not _epoch_steps(s, st, say, clock, max_minutes):
            return
        if not _end_epoch(s, st, say, clock):
            return
        if max_minutes is not None and clock.session_minutes() > max_minutes \
                and st.epoch < total:
            st.status = "time_limit"
            st.message = f"stopped at the {max_minutes} min budget after epoch {st.epoch}"
            return


def _epoch_steps(s: _Setup, st: _State, say: ProgressFn, clock: _Clock,
                 max_minutes: float | None) -> bool:
    """The remaining optimiser calls of the current epoch; False if the run must stop."""
    seed, batch, per_call = int(s.cfg["seed"]), s.batch, s.per_call
    perm = np.random.default_rng([seed, 1, st.epoch]).permutation(s.n_train)
    idx = np.zeros(s.n_calls * per_call * batch, np.int32)
    idx[: s.steps * batch] = perm[: s.steps * batch]
    idx = idx.reshape(s.n_calls, per_call, batch)
    valid = (np.arange(s.n_calls * per_call) < s.steps).reshape(s.n_calls, per_call)
    ckpt = s.run / "checkpoint.npz"
    _set_ramp(s, st)
    _set_flow_targets(s, st)
    while st.call < s.n_calls:
        tc, cc = time.monotonic(), time.process_time()
        st.params, st.opt_state, bad, part = s.chunk_fn(
            st.params, st.opt_state, s.train_pts, jnp.asarray(idx[st.call]),
            jnp.asarray(valid[st.call]))
        bad = bool(bad)
        st.train_s += time.monotonic() - tc
        st.train_cpu_s += time.process_time() - cc
        if bad:
            st.status = "non_finite"
            st.message = (f"stopped in epoch {st.epoch + 1}: the loss or its gradient became "
                          f"NaN/Inf; kept the last good checkpoint (epoch {st.meta['epoch']}) "
                          f"in {ckpt}. Try a smaller learning rate or check the data.")
            return False
        for k, v in part.items():
            st.sums[k] = st.sums.get(k, 0.0) + float(v)
        st.call += 1
        done = int(valid[: st.call].sum())
        say({"event": "step", "epoch": st.epoch + 1, "epochs": int(s.cfg["epochs"]),
             "step": done, "steps": s.steps, "loss": {k: v / done for k, v in st.sums.items()}})
        if max_minutes is not None and clock.session_minutes() > max_minutes \
                and st.call < s.n_calls:
            st.meta = st.checkpoint_meta(clock)
            save_checkpoint(ckpt, st.params, st.opt_state, st.meta)
            st.status = "time_limit"
            st.message = (f"stopped at the {max_minutes} min budget in epoch {st.epoch + 1} "
                          f"(step {done}/{s.steps}); resume=True continues")
            return False
    return True


def _set_ramp(s: _Setup, st: _State) -> None:
    """The seed's lambda schedule (model option ``ramp_epochs`` K): in epoch e (from 1) the
    networks' outputs are scaled by lambda = min(1, e / K), from the Kähler start at 0."""
    k = int(s.cfg["model"].get("ramp_epochs") or 0)
    if k > 0:
        lam = jnp.asarray(min(1.0, (st.epoch + 1) / k), st.params["ramp"].dtype)
        st.params = {**st.params, "ramp": scale.replicate(lam, s.mesh)}


def _set_flow_targets(s: _Setup, st: _State) -> None:
    """Loss ``flow``: at the start of every flow step (each ``flow.fit_epochs`` epochs) the
    potential phi_k at the training points, from the parameters then, stored in the run (so
    a run resumed inside a step regresses on the same anchor); otherwise the stored one."""
    if s.flow_fn is None:
        return
    flow = {**CONFIG_DEFAULTS["flow"], **(s.cfg.get("flow") or {})}  # older runs: defaults
    path = s.run / FLOW_STATE
    if st.epoch % int(flow["fit_epochs"]) == 0 and st.call == 0:
        target, sigma = s.flow_fn(st.params, s.train_pts)
        target = np.asarray(target)
        buf = io.BytesIO()
        np.savez(buf, target=target, dt=np.asarray(float(flow["dt"])),
                 sigma=np.asarray(float(sigma)))
        atomic_write(path, buf.getvalue())
    else:
        target = _read_flow_state(path, s.train_pts.weight.shape)["target"]
    dtype = s.train_pts.weight.dtype
    s.train_pts = s.train_pts._replace(
        target=scale.shard_rows(target.astype(dtype), s.mesh),
        step=scale.shard_rows(np.full(target.shape, float(flow["dt"]), dtype), s.mesh))


def _read_flow_state(path: Path, shape: tuple) -> dict[str, np.ndarray]:
    """The stored flow step, or a :class:`CygenError` naming the file."""
    try:
        with np.load(io.BytesIO(read_bytes(path)), allow_pickle=False) as data:
            state = {k: np.asarray(data[k]) for k in ("target", "dt", "sigma")}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise CygenError(f"not the run's flow state: {exc}", filename=str(path)) from None
    if state["target"].shape != tuple(shape):
        raise CygenError(f"holds {state['target'].shape} targets, the run has {tuple(shape)}",
                         filename=str(path))
    return state


def _end_epoch(s: _Setup, st: _State, say: ProgressFn, clock: _Clock) -> bool:
    """Validate, log and checkpoint a finished epoch; False if validation is not finite."""
    params64 = cast(st.params, jnp.float64)
    val = validation(s.evaluator, params64, s.val_pts, s.spec, s.alphas)
    line = {"epoch": st.epoch + 1, "wall_s": round(clock.wall(), 3),
            "train_s": round(st.train_s, 3), "train_cpu_s": round(st.train_cpu_s, 3),
            "train": {k: v / s.steps for k, v in st.sums.items()}, "val": val}
    if s.sym_fn is not None:
        line["delta_sym"] = s.sym_fn(params64)
    if not all(np.isfinite(v) for v in val.values() if isinstance(v, float)):
        st.status = "non_finite"
        st.message = (f"stopped after epoch {st.epoch + 1}: validation is NaN/Inf; kept the "
                      f"last good checkpoint (epoch {st.meta['epoch']}) in "
                      f"{s.run / 'checkpoint.npz'}")
        return False
    st.epoch, st.call, st.sums = st.epoch + 1, 0, {}
    st.log.append(jsonable(line))
    _write_log(s.run, st.log)
    st.meta = st.checkpoint_meta(clock)
    save_checkpoint(s.run / "checkpoint.npz", st.params, st.opt_state, st.meta)
    flat = {f"val_{k}": v for k, v in val.items() if isinstance(v, float)}
    say({"event": "epoch", "epochs": int(s.cfg["epochs"]), "loss": line["train"].get("loss"),
         **flat, **line})
    return True


def _write_log(run: Path, log: list[dict]) -> None:
    atomic_write(run / "log.jsonl", "".join(json.dumps(x, sort_keys=True) + "\n" for x in log))


# ----------------------------------------------------------------------------- finish


def _finish(s: _Setup, st: _State, say: ProgressFn, clock: _Clock) -> dict:
    """The optional L-BFGS fine-tune, then the final metrics (``metrics.json``)."""
    ckpt = s.run / "checkpoint.npz"
    if st.status == "completed" and int(s.cfg["lbfgs"]["steps"]) > 0 \
            and not st.meta.get("lbfgs"):
        st.params = lbfgs_finetune(s.net, s.module.GEOMETRY, s.alphas, s.targets, st.params,
                                   jax.tree.map(lambda a: a[: s.n_train], s.train_pts),
                                   s.cfg["lbfgs"], say, loss_powers(s.cfg), TRACES)
        val = validation(s.evaluator, cast(st.params, jnp.float64), s.val_pts, s.spec, s.alphas)
        st.log.append(jsonable({"epoch": st.epoch, "phase": "lbfgs",
                                "wall_s": round(clock.wall(), 3),
                                "train_s": round(st.train_s, 3), "val": val}))
        _write_log(s.run, st.log)
        st.meta = {**st.meta, "lbfgs": True, "wall_s": clock.wall()}
        save_checkpoint(ckpt, st.params, st.opt_state, st.meta)
    if st.status == "non_finite":
        st.params, _, st.meta = load_checkpoint(ckpt, st.params, None)
    metrics = final_metrics(s.evaluator, cast(st.params, jnp.float64), s.val_pts, s.spec,
                            s.cfg["eval"])
    metrics |= {"status": st.status, "message": st.message, "epochs": int(st.meta["epoch"]),
                "wall_s": round(clock.wall(), 3), "train_s": round(float(st.meta["train_s"]), 3),
                "train_cpu_s": round(float(st.meta.get("train_cpu_s", 0.0)), 3),
                "n_train": s.n_train, "n_val": s.n_val, "model": s.cfg["model"]["name"],
                "name": s.spec["name"]}
    write_json(s.run / "metrics.json", metrics)
    say({"event": "stop", "status": st.status, "message": st.message})
    return jsonable(metrics)


# ----------------------------------------------------------------------------- progress


def progress_callback(bar: Progress, *, steps: bool = True) -> ProgressFn:
    """The trainer's events shown on the one progress bar: a task per epoch advanced per
    optimiser call (``steps``) with the running losses, a line per finished epoch, the
    L-BFGS steps, the closing message, and any other event's ``message`` (a study's)."""

    def show(event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            bar.task(f"epoch {event['epoch'] + 1}", total=event["steps"])
        elif kind == "step" and steps:
            losses_ = "  ".join(f"{k} {v:.4g}" for k, v in event["loss"].items())
            bar.update(completed=event["step"], total=event["steps"], info=losses_,
                       label=f"epoch {event['epoch']}/{event['epochs']}")
        elif kind == "epoch":
            val = "  ".join(f"{k} {v:.4g}" for k, v in event["val"].items()
                            if isinstance(v, float))
            bar.message(f"epoch {event['epoch']}: val {val}  ({event['wall_s']:.0f} s)")
        elif kind == "lbfgs":
            bar.update(completed=event["step"], total=event["steps"], label="L-BFGS",
                       info=f"loss {event['loss']:.4g}")
        elif kind == "stop" or (kind is None and "message" in event):  # studies' lines
            bar.message(event["message"])

    return show
