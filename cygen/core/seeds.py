"""Random streams derived per purpose, so that no two purposes ever draw the same points.

A user's seed S is never used directly: every consumer asks for :func:`substream`
(S, purpose, *path), a state word of ``numpy.random.SeedSequence([S, code(purpose), *path])``
(NumPy's hash-based seed splitting, built for exactly this; ``path`` numbers the items of a
stream, such as the sampler's chunks and slice types).  Training points, validation,
evaluation, χ, plots, Donaldson's T-operator points and its evaluation points therefore
come from distinct streams for *any* seeds and sizes: ``cygen sample --seed 1``, a run
trained on those points with ``--seed 1`` and ``cygen eval`` of that run draw three
unrelated point sets, where equal raw seeds would have shared a prefix.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["PURPOSES", "jax_key", "substream"]

PURPOSES = (
    "sample",  # cygen sample / cygen.sample(): a user's data set
    "train",  # the trainer's own points (when no --data)
    "eval",  # cygen eval: fresh points for a trained run
    "euler",  # cygen euler / curvature: points for the integrals
    "donaldson",  # the T-operator's points
    "donaldson-eval",  # fresh points for sigma_k of balanced metrics
    "plot",  # figures that need fresh points
    "report",  # the HTML report's integrals
    "study",  # a study's own point sets
    "survey",  # a survey's points per CICY
    "symmetry",  # the group elements sampled for Delta_sym
    "moduli",  # cygen moduli: the Weil-Petersson metric and Yukawa couplings
    "harmonic-fit",  # cygen harmonic: points of the least-squares fit of the sections
    "harmonic-eval",  # cygen harmonic: independent points for G_harm and the metric-free G
)


def _code(purpose: str) -> int:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random-stream purpose {purpose!r}; one of {PURPOSES}")
    return int.from_bytes(hashlib.sha256(purpose.encode()).digest()[:4], "big")


def substream(seed: int, purpose: str, *path: int) -> int:
    """A 64-bit seed for item ``path`` (chunk index, slice type, ...) of ``purpose``'s stream
    of ``seed``: distinct paths, purposes and seeds give independent streams."""
    if int(seed) < 0:
        raise ValueError(f"seeds are non-negative integers, got {seed}")
    words = np.random.SeedSequence([int(seed), _code(purpose), *map(int, path)]).generate_state(
        2, np.uint32)
    return (int(words[0]) << 32) | int(words[1])


def jax_key(value: int) -> np.ndarray:
    """The raw ``jax.random`` (threefry) key of a 64-bit seed, built without JAX: what
    ``jax.random.PRNGKey(value)`` holds, with no compilation on the way."""
    return np.array([(value >> 32) & 0xFFFFFFFF, value & 0xFFFFFFFF], np.uint32)
