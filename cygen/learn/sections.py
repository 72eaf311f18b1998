"""A network section of T_X: the part of a harmonic representative a polynomial basis misses.

The harmonic representative of a Kodaira-Spencer class is eta = mu + dbar s with s the
section of T_X that minimises the L^2(g) norm (:mod:`cygen.evaluate.harmonic`).  A basis of
low degree captures s only in part on threefolds (the Dwork deformation's Fubini-Study lift
already carries conj(Z)^4); here s is a network:

    s_a = sum_F phi_{F a}(x) P_X(Z_j d/dZ_i),   F = (i, j) in one factor,

with the complex coefficients phi an MLP of the degree-0 functions Z_a conj(Z_b) / |Z_f|^2
(real and imaginary parts, every factor): invariant under the rescaling of each factor, so
s is a global smooth section, and complete (the fields Z_j d/dZ_i span every tangent space
of the ambient space and P_X is onto T_X).  Training minimises, as the basis fit does,
either the codifferential (``objective="residual"``, the default)

    L(theta) = sum_p v_p sum_a |dbar^dagger_g (beta_a + dbar s_a)|_g^2 / sum_p v_p,

whose minimum is zero at the harmonic representative whatever the points, or the norm
(``"norm"``) sum_p v_p sum_a |beta_a + dbar s_a|_g^2 / sum_p v_p (the trace of G_harm): v_p the
Monte-Carlo weight times det g / |Omega|^2, beta_a the basis's representative.  The norm
changes only at second order in s near its minimum and its Monte-Carlo noise is of first
order, so on a few thousand points it cannot tell good sections from noise; the residual can.
dbar s and d dbar s come from the network's jets along X (nested forward mode) and the stored
jets of the fields, by the product rule.  Stopping rule: Adam on shuffled batches of the
training part of the fit points; after each epoch the loss on a held-out tenth; stop when it
has not fallen by a relative ``tol`` in ``patience`` epochs, or after ``epochs``; the best
parameters on the held-out points are kept.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from cygen.geometry import harmonic as hm
from cygen.geometry import runtime as rt
from cygen.learn import networks

__all__ = ["FitPoints", "SectionNet", "coefficients", "features", "init", "loss", "section",
           "train"]


class SectionNet(NamedTuple):
    """Static description of a network section: the fields, the number of directions, the
    hidden widths and the activation."""

    fields: hm.SectionBasis  # the degree-0 basis: every Z_j d/dZ_i
    directions: int
    hidden: tuple[int, ...]
    activation: str = "gelu"


class FitPoints(NamedTuple):
    """Per fit point, what the loss needs (the metric and the basis are fixed): the chart
    point and its tangent frame, the fields' :func:`cygen.geometry.harmonic.jets`, the basis
    representative beta and its codifferential, g with its derivatives d_l g, g's Cholesky
    factor and its inverse, and the weight v."""

    zc: jax.Array  # (P, N)
    pullback: jax.Array  # (P, d, N)
    xi: jax.Array  # (P, F, d)
    d_xi: jax.Array  # (P, d, F, d)
    dbar_xi: jax.Array  # (P, d, F, d): [k, F, i] = dbar_k xi_F^i
    d_dbar_xi: jax.Array  # (P, d, d, F, d): [l, k, F, i]
    beta: jax.Array  # (P, T, d, d)
    r_beta: jax.Array  # (P, T, d)
    g: jax.Array  # (P, d, d)
    dg: jax.Array  # (P, d, d, d)
    c: jax.Array  # (P, d, d)
    c_inv: jax.Array  # (P, d, d)
    v: jax.Array  # (P,)


def _hermitian_features(v: jax.Array) -> list[jax.Array]:
    """Re, Im of v_a conj(v_b) / |v|^2 (a <= b; the diagonal's zero imaginary parts left
    out), zero where v = 0: n^2 real numbers, unchanged by v -> lambda v."""
    n2 = jnp.sum(jnp.abs(v) ** 2)
    safe = jnp.where(n2 > 0, n2, 1.0)
    h = jnp.where(n2 > 0, jnp.outer(v, jnp.conj(v)) / safe, 0.0)
    return [jnp.real(h[np.triu_indices(len(v))]), jnp.imag(h[np.triu_indices(len(v), 1)])]


def features(geo: rt.Geometry, x: jax.Array) -> jax.Array:
    """The network's inputs: Re, Im of x_a conj(x_b) / |x_f|^2 in each factor (a <= b; the
    diagonal's zero imaginary parts left out), sum_f n_f^2 numbers, unchanged when any factor
    is rescaled, so functions on the product of projective spaces.  (Adding the Hermitian
    forms of the equations' gradients, the structure of the Kodaira-Spencer lifts, made the
    held-out residual on the Dwork quintic worse: docs/moduli.md.)"""
    out = []
    for o, s in zip(geo.offsets, geo.factor_sizes, strict=True):
        xf = x[o:o + s]
        h = jnp.outer(xf, jnp.conj(xf)) / jnp.sum(jnp.abs(xf) ** 2)
        out += [jnp.real(h[np.triu_indices(s)]), jnp.imag(h[np.triu_indices(s, 1)])]
    return jnp.concatenate(out)


def init(key: jax.Array, geo: rt.Geometry, net: SectionNet) -> list[dict]:
    """MLP parameters with a zero last layer: training starts from the basis's solution."""
    sizes = [sum(s * s for s in geo.factor_sizes), *net.hidden,
             2 * net.directions * len(net.fields)]
    return networks.mlp_init(key, sizes, init_scale=0.0)


def coefficients(geo: rt.Geometry, net: SectionNet, params: list[dict], x: jax.Array
                 ) -> jax.Array:
    """(T, F) complex phi_{F a} at the point ``x``."""
    out = networks.mlp(params, features(geo, x), net.activation)
    out = out.reshape(2, net.directions, len(net.fields))
    return out[0] + 1j * out[1]


def section(geo: rt.Geometry, net: SectionNet, params: list[dict], x: jax.Array, chart
            ) -> jax.Array:
    """(T, d): s_a at ``x`` (on or near X, in the chart's frame), chart components."""
    return coefficients(geo, net, params, x) @ hm.sections(geo, net.fields, x, chart)


def _dbar_s(geo, net, params, pt: FitPoints) -> tuple[jax.Array, jax.Array]:
    """dbar s (T, d, d) [a, i, k] and d dbar s (d, T, d, d) [l, a, i, k] at the point, by
    the product rule from the network's jets and the stored fields' jets."""
    t, f = net.directions, len(net.fields)
    phi = hm.jets(lambda y: coefficients(geo, net, params, y).reshape(-1), pt.zc,
                  pt.pullback)
    field = (jnp.tile(pt.xi, (t, 1)), jnp.tile(pt.d_xi, (1, t, 1)),
             jnp.tile(pt.dbar_xi, (1, t, 1)), jnp.tile(pt.d_dbar_xi, (1, 1, t, 1)))
    jet = hm.product_jets(field, phi)
    dim = pt.pullback.shape[0]
    return (jet.dbar.reshape(t, f, dim, dim).sum(1),
            jet.d_dbar.reshape(dim, t, f, dim, dim).sum(2))


def _point_loss(geo, net, params, pt: FitPoints, objective: str) -> jax.Array:
    dbar, d_dbar = _dbar_s(geo, net, params, pt)
    if objective == "norm":  # |eta|_g^2
        return pt.v * jnp.sum(jnp.abs(hm.in_frame(pt.c, pt.c_inv, pt.beta + dbar)) ** 2)
    r = pt.r_beta + hm.codifferential(pt.g, pt.dg, dbar, d_dbar)
    return pt.v * jnp.sum(jnp.abs(r @ pt.c) ** 2)  # |dbar^dagger eta|_g^2


def loss(geo: rt.Geometry, net: SectionNet, params: list[dict], pts: FitPoints,
         objective: str = "residual") -> jax.Array:
    """The weighted mean over ``pts`` of sum_a |dbar^dagger(beta_a + dbar s_a)|_g^2
    (``objective="residual"``) or of sum_a |beta_a + dbar s_a|_g^2 (``"norm"``: tr G_harm)."""
    per = jax.vmap(lambda p: _point_loss(geo, net, params, p, objective))(pts)
    return jnp.sum(per) / jnp.sum(pts.v)


def _take(pts: FitPoints, index) -> FitPoints:
    return FitPoints(*(a[index] for a in pts))


def train(geo: rt.Geometry, net: SectionNet, params: list[dict], pts: FitPoints, *,
          objective: str = "residual", epochs: int = 200, batch: int = 512,
          lr: float = 3e-3, patience: int = 15, tol: float = 1e-4, seed: int = 0,
          progress=None) -> tuple[list[dict], dict]:
    """Minimise :func:`loss` with the stopping rule of the module docstring; returns the
    best parameters on the held-out tenth and the history (held-out loss per epoch, the
    loss of the starting point, epochs run and why it stopped)."""
    n = len(pts.v)
    held = max(1, n // 10)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    valid, fit = _take(pts, order[:held]), _take(pts, order[held:])
    steps = max(1, (n - held) // batch)
    opt = optax.adam(optax.cosine_decay_schedule(lr, epochs * steps, alpha=0.01))
    state = opt.init(params)

    @jax.jit  # the points are arguments, not constants baked into the executable
    def step(params, state, pts_batch):
        value, grad = jax.value_and_grad(lambda q: loss(geo, net, q, pts_batch,
                                                           objective))(params)
        updates, state = opt.update(grad, state, params)
        return optax.apply_updates(params, updates), state, value

    held_loss = jax.jit(lambda q, p: loss(geo, net, q, p, objective))
    best, best_params = float(held_loss(params, valid)), params
    history = {"start": best, "held_out": [], "stopped": "epochs"}
    since = 0
    for epoch in range(epochs):
        perm = rng.permutation(n - held)
        for s in range(steps):
            idx = jnp.asarray(perm[s * batch:(s + 1) * batch])
            params, state, _ = step(params, state, _take(fit, idx))
        value = float(held_loss(params, valid))
        if not np.isfinite(value):
            history["stopped"] = "non-finite"
            break
        history["held_out"].append(value)
        since = 0 if value < best * (1 - tol) else since + 1
        if value < best:
            best, best_params = value, params
        if progress is not None:
            progress({"message": f"section network epoch {epoch + 1}: held-out {value:.6g}"})
        if since >= patience:
            history["stopped"] = "patience"
            break
    history["epochs"] = len(history["held_out"])
    history["best"] = best
    return best_params, history
