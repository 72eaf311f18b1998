"""Scaling out: a device mesh, data-parallel placement, and multi-host initialisation.

cygen is data parallel: per-point work (slice solving, point data, loss terms, curvature
densities) is sharded along the batch axis of a one-dimensional :class:`jax.sharding.Mesh`
named ``"batch"``; parameters are replicated.  Nothing else changes: inside ``jax.jit`` a
sum or mean over a sharded axis is still the global sum (XLA inserts the all-reduce), so
the mathematics — and, up to the order of floating-point additions, the numbers — are those
of one device.  ``devices=None`` or ``1`` is the plain single-device path (no mesh at all).

Multi-host (SLURM-style clusters, docs/scaling.md): :func:`initialize` wraps
``jax.distributed.initialize`` from explicit arguments or the environment variables
``CYGEN_COORDINATOR``, ``CYGEN_NUM_PROCESSES``, ``CYGEN_PROCESS_ID`` (or JAX's own cluster
auto-detection under ``srun``); afterwards ``jax.devices()`` lists every process's devices
and a mesh over them spans the cluster.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "batch"
_INITIALIZED = False


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> bool:
    """Start ``jax.distributed`` (once per process); returns whether it is running.

    Arguments default to ``CYGEN_COORDINATOR`` / ``CYGEN_NUM_PROCESSES`` /
    ``CYGEN_PROCESS_ID``.  With none of them set, nothing happens unless ``auto`` (then JAX
    detects SLURM / Open MPI / TPU clusters itself).  Must run before any computation.
    """
    global _INITIALIZED
    if _INITIALIZED:
        return True
    env = os.environ
    coordinator = coordinator or env.get("CYGEN_COORDINATOR") or None
    if num_processes is None and env.get("CYGEN_NUM_PROCESSES"):
        num_processes = int(env["CYGEN_NUM_PROCESSES"])
    if process_id is None and env.get("CYGEN_PROCESS_ID"):
        process_id = int(env["CYGEN_PROCESS_ID"])
    explicit = coordinator is not None or num_processes is not None or process_id is not None
    if not explicit and not auto:
        return False
    if explicit and num_processes == 1:
        return False  # a single process: nothing to coordinate
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                               process_id=process_id)
    _INITIALIZED = True
    return True


def device_count(devices: int | None) -> int:
    """The number of devices a ``devices`` option means (``0``/``None`` < 0: all of them)."""
    available = len(jax.devices())
    if devices is None or devices <= 0:
        return available
    if devices > available:
        raise ValueError(f"asked for {devices} devices but JAX sees {available} "
                         f"({jax.devices()[0].platform}); on CPU set "
                         f"XLA_FLAGS=--xla_force_host_platform_device_count={devices}")
    return devices


def mesh(devices: int | None = None) -> Mesh | None:
    """A 1-D ``("batch",)`` mesh over the first ``devices`` devices (``None``/``0``: all).

    Returns ``None`` for a single device: callers then take the plain, unsharded path.
    """
    n = device_count(devices)
    if n == 1:
        return None
    return Mesh(np.asarray(jax.devices()[:n]), (AXIS,))


def size(m: Mesh | None) -> int:
    return 1 if m is None else int(m.devices.size)


def batch_sharding(m: Mesh | None) -> NamedSharding | None:
    """Rows split across the mesh (``P("batch")``); ``None`` without a mesh."""
    return None if m is None else NamedSharding(m, P(AXIS))


def replicated(m: Mesh | None) -> NamedSharding | None:
    """Every device holds the whole array (``P()``); ``None`` without a mesh."""
    return None if m is None else NamedSharding(m, P())


def constrain(tree, sharding: NamedSharding | None):
    """``with_sharding_constraint`` on every leaf (inside jit); identity without a mesh."""
    if sharding is None:
        return tree
    return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(a, sharding), tree)


def padded_rows(n: int, m: Mesh | None) -> int:
    """``n`` rounded up to a multiple of the mesh size."""
    k = size(m)
    return -(-n // k) * k


def shard_rows(tree, m: Mesh | None):
    """Place a pytree of host arrays with rows split across ``m`` (row count padded by
    repeating the last row up to a multiple of the device count; callers never index the
    padding).  Works across processes: each one supplies only its addressable shards."""
    if m is None:
        return jax.tree.map(jax.numpy.asarray, tree)
    sharding = batch_sharding(m)

    def put(a):
        a = np.asarray(a)
        pad = padded_rows(len(a), m) - len(a)
        if pad:
            a = np.concatenate([a, np.repeat(a[-1:], pad, axis=0)])
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    return jax.tree.map(put, tree)


def replicate(tree, m: Mesh | None):
    """Place a pytree replicated on every device of ``m`` (identity without a mesh)."""
    if m is None:
        return tree
    sharding = replicated(m)

    def put(a):
        a = np.asarray(a)
        return jax.make_array_from_callback(a.shape, sharding, lambda idx: a[idx])

    return jax.tree.map(put, tree)


def to_host(x) -> np.ndarray:
    """A (possibly sharded, possibly multi-process) array as one numpy array on every host."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def describe(m: Mesh | None) -> dict:
    """What the run ran on (for summaries): device count, platform, process count."""
    devs: Sequence = jax.devices()[:1] if m is None else list(m.devices.flat)
    return {"devices": len(devs), "platform": devs[0].platform,
            "processes": jax.process_count()}


def enable_compilation_cache(directory: str | os.PathLike) -> None:
    """Persist XLA executables under ``directory`` (the CLI uses the cygen cache dir), so a
    repeated command skips the XLA compilation of functions it has compiled before.  Every
    executable is kept (no minimum compile time): a small job's start-up is many small
    compilations (~0.1 s each on CPU), which is exactly what a second run should skip."""
    try:
        jax.config.update("jax_compilation_cache_dir", str(directory))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    except Exception:  # pragma: no cover - an old jax without the option: just slower
        pass


def primary() -> bool:
    """Whether this is process 0 (the one that writes files in a multi-process run)."""
    return jax.process_index() == 0


__all__ = ["AXIS", "batch_sharding", "constrain", "describe", "device_count",
           "enable_compilation_cache",
           "initialize", "mesh", "padded_rows", "primary", "replicate", "replicated",
           "shard_rows", "size", "to_host"]
