"""The one padded-batch helper: jitted per-point maps over many points in fixed shapes.

A function compiled for a batch of ``size`` points is reused for any number of points by
cutting the leading axis into chunks of exactly ``size`` rows, the last one padded by
repeating its last row; the padded rows' outputs are dropped.  (Callers that *sum* over a
chunk mask the padding out with the count :func:`chunks` yields.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from cygen.geometry import scale

__all__ = ["chunks", "padded_map"]


def chunks(tree: Any, size: int) -> Iterator[tuple[int, Any]]:
    """``(valid, chunk)`` over the leading axis of ``tree`` (a pytree of arrays of equal
    length): every chunk has exactly ``min(size, n)`` rows, of which the first ``valid`` are
    real and the rest repeat the last real row."""
    n = len(jax.tree.leaves(tree)[0])
    size = max(1, min(int(size), n))
    for start in range(0, n, size):
        stop = min(start + size, n)
        idx = np.minimum(np.arange(start, start + size), stop - 1)
        yield stop - start, jax.tree.map(lambda a, idx=idx: a[idx], tree)


def padded_map(fn: Callable[[Any], Any], tree: Any, size: int, mesh=None) -> Any:
    """``fn`` (a jitted function of one batched pytree) applied chunk by chunk to ``tree``;
    the outputs, as numpy arrays with the padding dropped, concatenated.  With a ``mesh``
    (:mod:`cygen.geometry.scale`) each chunk is split across its devices."""
    parts = []
    for valid, chunk in chunks(tree, size):
        out = fn(scale.shard_rows(chunk, mesh))
        parts.append(jax.tree.map(lambda a, k=valid: scale.to_host(a)[:k], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
