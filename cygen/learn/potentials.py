"""Kähler potentials from sections: K_h = log(s^dagger h s) / (pi lambda), single point.

The per-point algebra of Donaldson's balanced metrics (:mod:`cygen.learn.donaldson`), kept
apart from the T-operator so that models can stand on a balanced potential
(:class:`BasePotential`: ``phi`` on top of it, ``ldl``/``add``/``mult`` in its frame) without
importing the algorithm that finds it.  Conventions: the docstring of
:mod:`cygen.learn.donaldson`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry.local import Local

__all__ = ["BasePotential", "base_potential", "density", "metric_from_jet", "potential",
           "section_jet", "section_values"]


def section_values(exponents: np.ndarray, z: jax.Array) -> jax.Array:
    """(n_sections,) the monomials z^e of one point (no division, so zeros are fine)."""
    exponents = np.asarray(exponents)
    top = int(exponents.max()) if exponents.size else 0
    powers = [jnp.ones_like(z)]
    for _ in range(top):
        powers.append(powers[-1] * z)
    table = jnp.stack(powers, axis=1)  # (N, top + 1)
    picked = table[np.arange(exponents.shape[1])[None, :], exponents]  # (n_s, N)
    return jnp.prod(picked, axis=1)


def section_jet(exponents: np.ndarray, zc: jax.Array, pullback: jax.Array):
    """(s, A): the sections and their holomorphic derivatives A (dim, n_s) along P's rows."""

    def along(direction):
        return jax.jvp(lambda z: section_values(exponents, z), (zc,), (direction,))

    s, a = jax.vmap(along)(pullback)
    return s[0], a


def density(h: jax.Array, s: jax.Array) -> jax.Array:
    """D_h = s^dagger h s (real, > 0)."""
    return jnp.real(jnp.vdot(s, h @ s))


def potential(exponents: np.ndarray, scale: float, h: jax.Array, z: jax.Array) -> jax.Array:
    """K_h(z) = scale log D_h(z), scale = 1 / (pi lambda): a real function on the ambient space."""
    return scale * jnp.log(density(h, section_values(exponents, z)))


def metric_from_jet(scale: float, h: jax.Array, s: jax.Array, a: jax.Array) -> jax.Array:
    """g_{i jbar} = scale (M / D - v v^dagger / D^2) from the section jet (s, A)."""
    hs = h.T @ s.conj()
    d = jnp.real(jnp.dot(s, hs))
    v = a @ hs
    m = a @ h.T @ a.conj().T
    return scale * (m / d - jnp.outer(v, v.conj()) / d**2)


class BasePotential:
    """K_h(z) of a stored balanced metric (``__call__``) with its metric in closed form
    (``local_metric``), and its per-point section jet for a trainable h (``metric_with``)."""

    def __init__(self, exponents: np.ndarray, scale: float, h: np.ndarray) -> None:
        self.exponents, self.scale, self.h = np.asarray(exponents, int), float(scale), h

    def __call__(self, z: jax.Array) -> jax.Array:
        return potential(self.exponents, self.scale, jnp.asarray(self.h), z)

    def local_metric(self, loc: Local) -> jax.Array:
        s, a = section_jet(self.exponents, loc.zc, loc.pullback)
        return metric_from_jet(self.scale, jnp.asarray(self.h), s, a)

    def section_jet(self, loc: Local) -> tuple[jax.Array, jax.Array]:
        """(s, A) at ``loc``: the per-point data of :meth:`metric_with` (a trainable h)."""
        return section_jet(self.exponents, loc.zc, loc.pullback)

    def metric_with(self, h: jax.Array, s: jax.Array, a: jax.Array) -> jax.Array:
        """The metric of K_h for another Hermitian ``h`` (the trainable base of ``phi``)."""
        return metric_from_jet(self.scale, h, s, a)


def base_potential(config: dict) -> BasePotential:
    """The ambient potential K_h(z) of a stored balanced metric (``Balanced.as_config``)."""
    h = np.asarray(config["h_re"]) + 1j * np.asarray(config["h_im"])
    return BasePotential(config["exponents"], config["scale"], h)


