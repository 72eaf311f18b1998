"""A run's points: the dataset it trains on and its train/validation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cygen.sampling.dataset import Dataset

__all__ = ["run_dataset", "split"]


def split(n: int, seed: int, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of ``n`` points: a permutation fixed by ``seed``."""
    perm = np.random.default_rng([seed, 7]).permutation(n)
    n_val = min(max(1, round(val_fraction * n)), n - 1)
    return perm[n_val:], perm[:n_val]


def run_dataset(run: Path, cfg: dict) -> Dataset:
    """The run's points (``cfg["data"]``, relative to the run directory unless absolute),
    memory-mapped and cut to ``cfg["points"]``."""
    path = Path(cfg["data"])
    ds = Dataset.load(path if path.is_absolute() else run / path, mmap=True)  # paged in
    n = int(cfg["points"])
    return ds.subset(slice(0, n)) if n < len(ds) else ds
