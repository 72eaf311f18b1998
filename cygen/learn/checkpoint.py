"""Checkpoints: parameter and optimiser-state leaves plus a JSON ``meta``, one ``.npz``."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from cygen.core.io import atomic_write

__all__ = ["load_checkpoint", "save_checkpoint"]

def save_checkpoint(path: Path, params: Any, opt_state: Any, meta: dict) -> None:
    """params and optimiser state leaves plus a JSON ``meta``, written atomically."""
    arrays = {f"p{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(params))}
    arrays |= {f"o{i}": np.asarray(x) for i, x in enumerate(jax.tree.leaves(opt_state))}
    buf = io.BytesIO()
    np.savez(buf, meta=np.asarray(json.dumps(meta)), **arrays)
    atomic_write(path, buf.getvalue())


def load_checkpoint(path: Path, params_like: Any, opt_like: Any = None):
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
