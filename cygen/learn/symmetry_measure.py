"""Group elements acting on points and metrics, and the symmetry-learning measure Delta_sym.

A generated module's SPEC carries the symmetry group (see :mod:`cygen.symmetries`): every
permutation part (``symmetry_permutations``) and the phase group as a product of cyclic
groups (``symmetry_phase_generators``, ``symmetry_phase_orders``, in units of 2 pi / N with
N = ``symmetry_phase_denominator``).  An element h = (perm, a) acts by

    (h . z)[perm[i]] = exp(2 pi i a_i / N) z[i].

h maps chart c = (A, D) linearly onto chart h(c) = (perm(A), perm(D)): the local coordinate
u_f = z_f / z_{a(f)} of c goes to u'_{perm(f)} = exp(2 pi i (a_f - a_{a(f)}) / N) u_f of h(c).
So the Jacobian T[i, k] = du'^k / du^i is a permutation matrix with phases (unitary), and a
metric g is h-invariant iff

    g_c(p) = T g_{h(c)}(h . p) T^dagger        (the pull-back h^* g; transition.md conventions).

Delta_sym = mean over points p and sampled elements h of
|| g_{h(c)}(h . p) - (h_* g)(h . p) ||_F / || g_c(p) ||_F, with (h_* g)(h . p) = T^dagger g_c(p) T
(T is unitary, so this equals || T g_{h(c)}(h . p) T^dagger - g_c(p) ||_F / || g_c(p) ||_F),
c the chart ``select_chart`` picks at p.  It is 0 for the Fubini-Study metric of invariant
Kähler moduli (tested to 1e-12) and measures how well a learned metric respects the symmetry.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry.local import local

MetricFn = Callable[[jax.Array, jax.Array], jax.Array]  # (z, chart) -> (dim, dim)


class Elements(NamedTuple):
    """A batch of group elements with their action on the charts (host arrays)."""

    perm: np.ndarray  # (E, N) int: coordinate i goes to slot perm[i]
    angle: np.ndarray  # (E, N) float: phase angle (radians) multiplying coordinate i
    chart_image: np.ndarray  # (E, n_charts) int: index of h(c)


def chart_index(spec: dict) -> dict[tuple, int]:
    """(sorted affine, sorted dependent) -> chart index."""
    return {(tuple(sorted(c["affine"])), tuple(sorted(c["dependent"]))): k
            for k, c in enumerate(spec["charts"])}


def chart_images(spec: dict, perm) -> np.ndarray:
    """For each chart c, the index of the chart perm(c)."""
    index = chart_index(spec)
    return np.array([index[(tuple(sorted(perm[i] for i in c["affine"])),
                            tuple(sorted(perm[i] for i in c["dependent"])))]
                     for c in spec["charts"]], dtype=np.int32)


def make_elements(spec: dict, perms, phases) -> Elements:
    """Elements from integer permutations and phase exponents (units of 2 pi / N)."""
    perms = np.asarray(perms, dtype=np.int32).reshape(-1, len(spec["coordinates"]))
    phases = np.asarray(phases, dtype=np.int64).reshape(perms.shape)
    n = spec["symmetry_phase_denominator"]
    angle = 2.0 * np.pi * (phases % n) / n
    return Elements(perms, angle, np.stack([chart_images(spec, p) for p in perms]))


def sample_elements(spec: dict, n_elements: int, seed: int = 0) -> Elements:
    """``n_elements`` elements drawn uniformly from the (effective) symmetry group."""
    rng = np.random.default_rng(seed)
    perms = np.asarray(spec["symmetry_permutations"], dtype=np.int32)
    chosen = perms[rng.integers(len(perms), size=n_elements)]
    gens = np.asarray(spec["symmetry_phase_generators"], dtype=np.int64).reshape(
        -1, perms.shape[1])
    orders = np.asarray(spec["symmetry_phase_orders"], dtype=np.int64)
    coeff = rng.integers(0, np.maximum(orders, 1), size=(n_elements, len(orders)))
    phases = coeff @ gens if len(orders) else np.zeros(chosen.shape, dtype=np.int64)
    return make_elements(spec, chosen, phases)


def act(perm: jax.Array, angle: jax.Array, z: jax.Array) -> jax.Array:
    """h . z for one element (single point)."""
    return jnp.zeros_like(z).at[perm].set(jnp.exp(1j * angle) * z)


def jacobian(module: ModuleType, perm: jax.Array, angle: jax.Array, chart, image) -> jax.Array:
    """T[i, k] = du'^k / du^i of h from chart ``chart`` to chart ``image`` = h(chart)."""
    return chart_jacobian(module.GEOMETRY, perm, angle, chart, image)


def chart_jacobian(geo, perm: jax.Array, angle: jax.Array, chart, image) -> jax.Array:
    """:func:`jacobian` from the geometry alone."""
    free = jnp.asarray(geo.free)[chart]
    aff = jnp.asarray(geo.affine)[chart][jnp.asarray(geo.factor_of)[free]]
    free_img = jnp.asarray(geo.free)[image]
    match = (perm[free][:, None] == free_img[None, :]).astype(jnp.complex128)
    return match * jnp.exp(1j * (angle[free] - angle[aff]))[:, None]


def pulled_back(metric_fn: MetricFn, module: ModuleType, z: jax.Array, chart,
                perm: jax.Array, angle: jax.Array, image) -> jax.Array:
    """(h^* g)_chart(z) = T g_{h(chart)}(h . z) T^dagger (single point)."""
    t = jacobian(module, perm, angle, chart, image)
    return t @ metric_fn(module.normalize(act(perm, angle, z)), image) @ t.conj().T


def delta_sym_pointwise(metric_fn: MetricFn, module: ModuleType, points: jax.Array,
                        elements: Elements) -> jax.Array:
    """(B, E) relative Frobenius differences ||h^* g - g|| / ||g|| at c = select_chart(p)."""
    perm = jnp.asarray(elements.perm)
    angle = jnp.asarray(elements.angle)
    images = jnp.asarray(elements.chart_image)

    def one(z, p, a, img):
        chart = module.select_chart(z)
        g = metric_fn(z, chart)
        h = pulled_back(metric_fn, module, z, chart, p, a, img[chart])
        return jnp.linalg.norm(h - g) / jnp.linalg.norm(g)

    per_element = jax.vmap(one, in_axes=(None, 0, 0, 0))
    return jax.vmap(per_element, in_axes=(0, None, None, None))(
        jnp.asarray(points), perm, angle, images)


def delta_sym(metric_fn: MetricFn, module: ModuleType, points, n_elements: int = 8,
              seed: int = 0) -> float:
    """Delta_sym: the mean of :func:`delta_sym_pointwise` over points and sampled elements."""
    elements = sample_elements(module.SPEC, n_elements, seed)
    fn = jax.jit(lambda pts: jnp.mean(delta_sym_pointwise(metric_fn, module, pts, elements)))
    return float(fn(jnp.asarray(points)))


def model_delta_sym(model, module: ModuleType, points, n_elements: int = 8, seed: int = 0):
    """A function ``params -> Delta_sym`` of a :class:`cygen.models.Model` on ``points``
    (jitted once; the trainer logs it per epoch with ``eval.symmetry_points > 0``)."""
    geo = module.GEOMETRY
    elements = sample_elements(module.SPEC, n_elements, seed)
    pts = jnp.asarray(points)

    @jax.jit
    def fn(params):
        def metric(z, chart):
            return model.metric(params, local(geo, z, chart))

        return jnp.mean(delta_sym_pointwise(metric, module, pts, elements))

    return lambda params: float(fn(params))
