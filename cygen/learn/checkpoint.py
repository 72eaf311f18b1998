"""Checkpoints: parameter and optimiser-state leaves plus a JSON ``meta``, one ``.npz``."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cygen.core.errors import CygenError
from cygen.core.io import atomic_write, reason

__all__ = ["TRAINING_META", "load_checkpoint", "read_checkpoint", "save_checkpoint"]

def save_checkpoint(path: Path, params: Any, opt_state: Any, meta: dict) -> None:
    """params and optimiser state leaves plus a JSON ``meta``, written atomically."""
    arrays = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))}
    arrays |= {f"o{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(opt_state))}
    buf = io.BytesIO()
    np.savez(buf, meta=np.asarray(json.dumps(meta)), **arrays)
    atomic_write(path, buf.getvalue())


TRAINING_META = ("epoch", "call", "sums", "wall_s", "train_s")  # what resuming a run needs


def read_checkpoint(path: Path, required: tuple[str, ...] = ("epoch",)
                    ) -> tuple[dict[str, np.ndarray], dict]:
    """All arrays and the ``meta`` of a checkpoint, or a :class:`CygenError` naming the file
    and what is wrong with it (missing, truncated, not a checkpoint, ``meta`` without the
    ``required`` keys: :data:`TRAINING_META` where a training resumes from it)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files if k != "meta"}
            meta = json.loads(str(data["meta"])) if "meta" in data.files else None
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise CygenError(f"cannot read the checkpoint: {reason(exc)}",
                         filename=str(path)) from None
    if not isinstance(meta, dict) or not set(required) <= set(meta):
        raise CygenError("not a cygen checkpoint (no valid meta)", filename=str(path))
    return arrays, meta


def load_checkpoint(path: Path, params_like: Any, opt_like: Any = None,
                    required: tuple[str, ...] = ("epoch",)):
    """(params, opt_state or None, meta) with the structures of the ``*_like`` trees."""
    arrays, meta = read_checkpoint(path, required)

    def restore(like, prefix):
        leaves, treedef = jax.tree.flatten(like)
        keys = sorted((k for k in arrays if k.startswith(prefix) and k[1:].isdigit()),
                      key=lambda k: int(k[1:]))
        if len(keys) != len(leaves) or any(arrays[k].shape != np.shape(x)
                                            for k, x in zip(keys, leaves, strict=True)):
            raise CygenError("the checkpoint does not match the run's model",
                             filename=str(path))
        return jax.tree.unflatten(treedef, [arrays[k] for k in keys])

    params = restore(params_like, "p")
    opt_state = None if opt_like is None else restore(opt_like, "o")
    return params, opt_state, meta
