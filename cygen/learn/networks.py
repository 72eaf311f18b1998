"""The networks of every model: a tiny pure-JAX MLP and its activations (no framework).

Parameters are plain pytrees (``[{"w": (m, n), "b": (n,)}, ...]``) so that optax, checkpoints
and ``jax.tree`` handle them directly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["ACTIVATIONS", "activation_derivatives", "hermitian", "mlp", "mlp_init"]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "relu": jax.nn.relu,
    "gelu": jax.nn.gelu,  # the tanh approximation
    "softplus": jax.nn.softplus,
}


def mlp_init(key: jax.Array, sizes: Sequence[int], init_scale: float = 1.0) -> list[dict]:
    """Layers ``[{"w": (m, n), "b": (n,)}]``: LeCun-normal weights, the last times init_scale."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, (k, m, n) in enumerate(zip(keys, sizes[:-1], sizes[1:], strict=True)):
        scale = (init_scale if i == len(sizes) - 2 else 1.0) / math.sqrt(m)
        layers.append({"w": scale * jax.random.normal(k, (m, n), jnp.float64),
                       "b": jnp.zeros(n, jnp.float64)})
    return layers


def mlp(layers: list[dict], x: jax.Array, activation: str) -> jax.Array:
    """A plain MLP: activation after every layer but the last."""
    act = ACTIVATIONS[activation]
    for layer in layers[:-1]:
        x = act(x @ layer["w"] + layer["b"])
    return x @ layers[-1]["w"] + layers[-1]["b"]


def activation_derivatives(activation: str, x: jax.Array, order: int) -> list[jax.Array]:
    """[f(x), f'(x), ..., f^(order)(x)] elementwise, by nested forward-mode derivatives."""
    fn = ACTIVATIONS[activation]
    one = jnp.ones_like(x)
    out, g = [fn(x)], fn
    for _ in range(order):
        g = (lambda h: lambda y: jax.jvp(h, (y,), (one,))[1])(g)
        out.append(g(x))
    return out


def hermitian(diag: jax.Array, re: jax.Array, im: jax.Array, dim: int) -> jax.Array:
    """Hermitian (dim, dim) from its real diagonal and the upper triangle's Re and Im.

    Built by stacking (no scatter, which is slow on CPU under vmap).
    """
    upper = {(i, j): m for m, (i, j) in enumerate(zip(*np.triu_indices(dim, 1), strict=True))}
    rows = []
    for i in range(dim):
        row = []
        for j in range(dim):
            if i == j:
                row.append(diag[i] + 0j)
            elif i < j:
                row.append(re[upper[i, j]] + 1j * im[upper[i, j]])
            else:
                row.append(re[upper[j, i]] - 1j * im[upper[j, i]])
        rows.append(jnp.stack(row))
    return jnp.stack(rows)
