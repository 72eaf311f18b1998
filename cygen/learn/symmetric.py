"""Symmetry-aware models: the group the compiler computes, used by the networks.

The model option ``symmetry`` (docs/training.md, "Symmetry-aware networks"):

``none``
    the plain model.
``invariant`` (``phi`` only)
    phi = MLP(F(z)) with F the G-invariant orbit sums the compiler lists
    (``SPEC["symmetry_invariants"]``, :mod:`cygen.compiler.analysis.invariants`) in place of
    the Hermitian features.  phi, and so g = g_FS + d dbar phi, is exactly invariant and as
    smooth as the plain model; it sees only invariants up to the listed degree, which on a
    large group (the Fermat quintic's) do not separate the orbits.
    The jets of F along the chart (value, d, d dbar; at order 2 also dd, d d dbar,
    dd dbar dbar for curvature) come in closed form: each term z^alpha zbar^beta is a
    holomorphic monomial times an antiholomorphic one (jets from the embedding's P and Q),
    divided by prod_a ||z^(a)||^(2 k_a) (Faà di Bruno), averaged over the orbit (one real
    matrix product, :func:`cygen.learn.jets.linear`).
``canonical`` (every model)
    each point p is first moved by a group element h(p) into a fundamental domain, and the
    model's metric there is pulled back: g_c(p) = T g_{h(c)}(h(p) . p) T^dagger, T the
    Jacobian of h between the charts (:mod:`cygen.learn.symmetry_measure`).  h(p) maximises a
    fixed generic score, first of the permuted |z_i|^2 over the permutations, then of
    the off-diagonal Hermitian features over the phase group, so every point of an orbit
    lands on the same representative and g is exactly invariant.  The network is
    universal on the fundamental domain, but g jumps where the maximiser changes (a
    measure-zero set that no loss sees).

Both are tested for exact invariance, g(h . p) = h_* g(p) to rounding for random elements
(tests/test_symmetric.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import runtime as rt
from cygen.geometry.local import Local, local
from cygen.learn import jets
from cygen.learn.jets import Jet
from cygen.learn.models import Model, make_model
from cygen.learn.symmetry_measure import act, chart_images, chart_jacobian

__all__ = ["SYMMETRIES", "Group", "Invariants", "canonical", "canonical_element", "group",
           "invariant_jets", "invariant_values", "invariants", "symmetric_model"]

SYMMETRIES = ("none", "invariant", "canonical")
_SCORE_SEED = 20241  # the generic weights of the canonical score (any fixed draw will do)


# ----------------------------------------------------------------------------- invariant


class Invariants(NamedTuple):
    """The orbit sums as real jets' data: unit u is Re(coeff[u] z^alpha zbar^beta) with
    alpha = exps[ia[u]], beta = exps[ib[u]] and per-factor degrees ks[u]; feature
    F = units @ average."""

    exps: np.ndarray  # (K, N) distinct exponent vectors
    ia: np.ndarray  # (U,)
    ib: np.ndarray  # (U,)
    coeff: np.ndarray  # (U,) complex: 1 (real part) or -1j (imaginary part)
    ks: np.ndarray  # (U, n_factors)
    average: np.ndarray  # (U, F)

    @property
    def n_features(self) -> int:
        return self.average.shape[1]


def invariants(spec: dict, factor_sizes) -> Invariants:
    """:class:`Invariants` from ``SPEC["symmetry_invariants"]``."""
    orbits = spec["symmetry_invariants"]["orbits"]
    n = sum(factor_sizes)
    bounds = np.cumsum((0,) + tuple(factor_sizes))
    units, features = [], 0
    for orbit in orbits:
        for c in ((1.0,) if orbit["real"] else (1.0, -1j)):
            units += [(tuple(t[:n]), tuple(t[n:]), c, features, len(orbit["terms"]))
                      for t in orbit["terms"]]
            features += 1
    exps = sorted({e for u in units for e in u[:2]})
    index = {e: k for k, e in enumerate(exps)}
    average = np.zeros((len(units), features))
    for k, u in enumerate(units):
        average[k, u[3]] = 1.0 / u[4]
    alpha = np.array([u[0] for u in units], int).reshape(len(units), n)
    ks = np.stack([alpha[:, a:b].sum(axis=1) for a, b in itertools.pairwise(bounds)], axis=1)
    return Invariants(np.array(exps, int).reshape(-1, n),
                      np.array([index[u[0]] for u in units], int),
                      np.array([index[u[1]] for u in units], int),
                      np.array([u[2] for u in units], complex), ks, average)


def _monomial_jets(exps: np.ndarray, z: jax.Array, p: jax.Array, q: jax.Array | None):
    """Holomorphic jets of z^e for every row e of ``exps``: value (K,), d (dim, K) and, with
    the embedding's second derivatives ``q``, dd (dim, dim, K)."""
    n = z.shape[0]
    cols, eye = np.arange(n), np.eye(n, dtype=int)
    powers = jnp.cumprod(jnp.concatenate(
        [jnp.ones((n, 1), z.dtype), jnp.repeat(z[:, None], int(exps.max(initial=0)), axis=1)],
        axis=1), axis=1)  # powers[l, j] = z_l^j

    def prod(e):  # prod_l z_l^(e_l) over the last axis, exponents clipped at 0 (their terms
        return jnp.prod(powers[cols, np.clip(e, 0, None)], axis=-1)  # carry a factor 0)

    value = prod(exps)
    first = exps * prod(exps[:, None, :] - eye)  # (K, N): d z^e / d z_m
    d = p @ first.T
    if q is None:
        return value, d, None
    second = (exps[:, :, None] * (exps[:, None, :] - eye)  # (K, N, N): d^2 z^e / d z_m d z_n
              * prod(exps[:, None, None, :] - eye[:, None, :] - eye[None, :, :]))
    dd = jnp.einsum("ikm,um->iku", q, first) + jnp.einsum("im,kn,umn->iku", p, p, second)
    return value, d, dd


def _inverse_powers(geo: rt.Geometry, z, p, q, top: int) -> list[Jet]:
    """Per factor a, the jets of ||z^(a)||^(-2k) for k = 0 .. ``top`` (units k)."""
    return [jets.inverse_norm_powers(z[o : o + size], p[:, o : o + size],
                                     None if q is None else q[:, :, o : o + size], top)
            for o, size in zip(geo.offsets, geo.factor_sizes, strict=True)]


def _take(h: Jet, idx: np.ndarray) -> Jet:
    return Jet(*(None if x is None else x[..., idx] for x in h))


def invariant_jets(geo: rt.Geometry, inv: Invariants, zc: jax.Array, pullback: jax.Array,
                   second: jax.Array | None = None) -> Jet:
    """Jets of the invariant features along the chart coordinates (order 2 with ``second``),
    the analogue of :func:`cygen.learn.jets.feature_jets`."""
    v, d, dd = _monomial_jets(inv.exps, zc, pullback, second)

    def pick(idx):
        return v[idx], d[:, idx], None if dd is None else dd[:, :, idx]

    num = jets.products(pick(inv.ia), pick(inv.ib), jnp.asarray(inv.coeff))
    norms = _inverse_powers(geo, zc, pullback, second, int(inv.ks.max(initial=0)))
    for a, per_k in enumerate(norms):
        num = jets.mul(num, _take(per_k, inv.ks[:, a]))
    return jets.linear(num, jnp.asarray(inv.average), None)


def invariant_values(geo: rt.Geometry, inv: Invariants, z: jax.Array) -> jax.Array:
    """The invariant features' values at a point (any scaling): for tests and plots."""
    terms = jnp.prod(z ** inv.exps[inv.ia], axis=-1) * jnp.conj(
        jnp.prod(z ** inv.exps[inv.ib], axis=-1))
    norms = jnp.stack([jnp.real(jnp.vdot(z[o : o + s], z[o : o + s]))
                       for o, s in zip(geo.offsets, geo.factor_sizes, strict=True)])
    units = jnp.real(jnp.asarray(inv.coeff) * terms) / jnp.prod(norms ** inv.ks, axis=-1)
    return units @ jnp.asarray(inv.average)


# ----------------------------------------------------------------------------- canonical


class Group(NamedTuple):
    """The effective group as tables, and the canonical score's weights."""

    perms: np.ndarray  # (P, N) every permutation
    angles: np.ndarray  # (F, N) every element of the phase group, radians per coordinate
    images: np.ndarray  # (P, n_charts) chart images under each permutation
    diag_weights: np.ndarray  # (P, N) the weight of coordinate i's |z_i|^2 after perm p
    pairs: tuple[np.ndarray, np.ndarray]  # the coordinate pairs i < j within a factor
    pair_weights: np.ndarray  # (2, n_pairs) weights of Re and Im of the pairs' features


def group(spec: dict, geo: rt.Geometry) -> Group:
    """:class:`Group` from a module's SPEC (``symmetry_*``)."""
    perms = np.asarray(spec["symmetry_permutations"], int)
    n = perms.shape[1]
    gens = np.asarray(spec["symmetry_phase_generators"], int).reshape(-1, n)
    orders = spec["symmetry_phase_orders"]
    coeffs = np.array(list(itertools.product(*(range(k) for k in orders))), int)
    phases = (coeffs.reshape(-1, len(gens)) @ gens if len(gens) else np.zeros((1, n), int)
              ) % spec["symmetry_phase_denominator"]
    angles = 2 * np.pi * phases / spec["symmetry_phase_denominator"]
    rng = np.random.default_rng(_SCORE_SEED)
    weights = rng.uniform(1.0, 2.0, n)
    ia, ib = [], []
    for o, s in zip(geo.offsets, geo.factor_sizes, strict=True):
        i, j = np.triu_indices(s, 1)
        ia.append(i + o)
        ib.append(j + o)
    ia, ib = np.concatenate(ia), np.concatenate(ib)
    return Group(perms, angles.reshape(-1, n),
                 np.stack([chart_images(spec, p) for p in perms]), weights[perms],
                 (ia, ib), rng.uniform(-1.0, 1.0, (2, len(ia))))


def _factor_norms(geo: rt.Geometry, z: jax.Array) -> jax.Array:
    sq = jnp.abs(z) ** 2
    per = jnp.zeros(len(geo.factor_sizes), sq.dtype).at[geo.factor_of].add(sq)
    return per[geo.factor_of]


def canonical_element(geo: rt.Geometry, grp: Group, z: jax.Array):
    """(perm, angle, index of perm) of the element h(p) moving ``z`` to its representative:
    h . z = :func:`cygen.learn.symmetry_measure.act` (perm, angle, z)."""
    norms = _factor_norms(geo, z)
    k = jnp.argmax(jnp.asarray(grp.diag_weights) @ (jnp.abs(z) ** 2 / norms))
    perm = jnp.asarray(grp.perms)[k]
    moved = jnp.zeros_like(z).at[perm].set(z)
    rotated = jnp.exp(1j * jnp.asarray(grp.angles)) * moved  # (F, N)
    ia, ib = grp.pairs
    feats = rotated[:, ia] * jnp.conj(rotated[:, ib]) / _factor_norms(geo, moved)[ia]
    score = jnp.real(feats) @ grp.pair_weights[0] + jnp.imag(feats) @ grp.pair_weights[1]
    angle = jnp.asarray(grp.angles)[jnp.argmax(score)][perm]  # per source coordinate
    return perm, angle, k


def canonical(model: Model, geo: rt.Geometry, grp: Group) -> Model:
    """``model`` evaluated at each point's representative and pulled back (module docstring)."""

    def inputs(loc: Local):
        perm, angle, k = canonical_element(geo, grp, loc.zc)
        image = jnp.asarray(grp.images)[k][loc.chart]
        moved = local(geo, act(perm, angle, loc.zc), image)
        return model.inputs(moved), chart_jacobian(geo, perm, angle, loc.chart, image)

    def apply(params, inp):
        x, t = inp
        return t @ model.apply(params, x) @ t.conj().T

    potential = None if model.potential is None else (
        lambda params, inp: model.potential(params, inp[0]))
    return model._replace(inputs=inputs, apply=apply, jet=None, potential=potential)


# ----------------------------------------------------------------------------- models


def symmetric_model(geo: rt.Geometry, spec: dict, name: str, symmetry: str,
                    **options) -> Model:
    """:func:`cygen.learn.models.make_model` with the option ``symmetry`` (module docstring)."""
    if symmetry not in SYMMETRIES:
        raise ValueError(f"symmetry must be one of {', '.join(SYMMETRIES)}, not {symmetry!r}")
    if symmetry == "none":
        return make_model(geo, name, **options)
    if "symmetry_invariants" not in spec:
        raise ValueError(f"the module of {spec.get('name')!r} predates symmetry-aware "
                         "models: recompile its .cy file")
    if symmetry == "canonical":
        return canonical(make_model(geo, name, **options), geo, group(spec, geo))
    if name != "phi":
        raise ValueError("symmetry = 'invariant' needs a scalar potential (model phi); the "
                         "chart-metric models take symmetry = 'canonical'")
    inv = invariants(spec, geo.factor_sizes)
    features: Callable = lambda zc, p, q=None: invariant_jets(geo, inv, zc, p, q)  # noqa: E731
    return make_model(geo, name, features=features, n_features=inv.n_features, **options)
