"""Riemannian (Levi-Civita) geometry of a Hermitian metric in real coordinates (single point).

A Hermitian metric g_{i jbar} in holomorphic coordinates u = x + i y is also a Riemannian
metric on the underlying real manifold.  :func:`realify` gives its matrix in the real
coordinates (x, y), normalised so that a real tangent vector X with holomorphic part v
(v^i = dz^i(X)) has |X|^2 = g_{i jbar} v^i conj(v^j).  With that normalisation, for a
*Kähler* metric the Riemannian scalar curvature is 4 g^{i jbar} Ric_{i jbar} (4 times
:func:`cygen.geometry.curvature.ricci_scalar`), the Laplace–Beltrami operator is
4 g^{i jbar} d_i dbar_j and |grad f|^2 = 4 g^{i jbar} d_i f dbar_j f; for a metric that is
not Kähler (the ``ldl`` network) they are genuinely Riemannian quantities, which the
Chern-connection curvature of :mod:`cygen.geometry.curvature` is not.

Everything is by forward-mode autodiff of a metric field ``metric_fn(x) -> (n, n)`` complex
Hermitian, x real of length 2n in the order (Re u, Im u) of :func:`cygen.geometry.local.lift`.
Used by the Perelman loss (docs/training.md, "Perelman's entropy").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from cygen.geometry import runtime as rt

__all__ = ["FunctionJet", "christoffel", "function_jet", "gradient_norm", "laplacian",
           "realify", "real_inverse", "scalar_curvature"]

MetricField = Callable[[jax.Array], jax.Array]  # x (2n,) real -> g_{i jbar} (n, n)


def realify(g: jax.Array) -> jax.Array:
    """(2n, 2n) real symmetric matrix of the Hermitian g in (Re u, Im u): [[A, B], [-B, A]]
    for g = A + iB (|X|^2 = g_{i jbar} v^i conj(v^j), see the module docstring)."""
    a, b = jnp.real(g), jnp.imag(g)
    return jnp.concatenate([jnp.concatenate([a, b], 1), jnp.concatenate([-b, a], 1)], 0)


def real_inverse(g: jax.Array) -> jax.Array:
    """realify(g)^-1 = realify(g^-1) (realification is multiplicative: realify(g) acts as
    conj(g) on v = a + ib), so only the complex (n, n) system is solved."""
    return realify(rt.solve_small(g, jnp.eye(g.shape[-1], dtype=g.dtype)))


def christoffel(metric_fn: MetricField, x: jax.Array) -> jax.Array:
    """Gamma[c, a, b] = Gamma^c_{ab} = 1/2 M^{cd} (d_a M_{db} + d_b M_{da} - d_d M_{ab})."""
    m_inv = real_inverse(metric_fn(x))
    dm = jax.jacfwd(lambda y: realify(metric_fn(y)))(x)  # dm[i, j, k] = d_k M_{ij}
    first = 0.5 * (jnp.einsum("dba->dab", dm) + jnp.einsum("dab->dab", dm)
                   - jnp.einsum("abd->dab", dm))
    return jnp.einsum("cd,dab->cab", m_inv, first)


def scalar_curvature(metric_fn: MetricField, x: jax.Array) -> jax.Array:
    """The Levi-Civita scalar curvature R = M^{ab} Ric_{ab} at ``x``, with
    Ric_{ab} = d_c Gamma^c_{ab} - d_b Gamma^c_{ca} + Gamma^c_{cd} Gamma^d_{ab}
    - Gamma^c_{bd} Gamma^d_{ca} (second derivatives of the metric by nested jacfwd)."""
    m_inv = real_inverse(metric_fn(x))
    dgam, gam = jax.jacfwd(lambda y: (christoffel(metric_fn, y),) * 2, has_aux=True)(x)
    ric = (jnp.einsum("cabc->ab", dgam) - jnp.einsum("ccab->ab", dgam)
           + jnp.einsum("ccd,dab->ab", gam, gam) - jnp.einsum("cbd,dca->ab", gam, gam))
    return jnp.einsum("ab,ab->", m_inv, ric)


class FunctionJet(NamedTuple):
    """A real function's value, gradient and Hessian at one point (real coordinates)."""

    value: jax.Array  # ()
    grad: jax.Array  # (2n,)
    hess: jax.Array  # (2n, 2n)


def function_jet(fn: Callable[[jax.Array], jax.Array], x: jax.Array,
                 hessian: bool = True) -> FunctionJet:
    """:class:`FunctionJet` of ``fn`` at ``x`` (``hessian`` False: zeros, not computed)."""
    grad_fn = jax.jacfwd(lambda y: (fn(y),) * 2, has_aux=True)
    grad, value = grad_fn(x)
    if not hessian:
        return FunctionJet(value, grad, jnp.zeros((x.shape[0],) * 2, grad.dtype))
    return FunctionJet(value, grad, jax.jacfwd(lambda y: grad_fn(y)[0])(x))


def gradient_norm(g: jax.Array, jet: FunctionJet) -> jax.Array:
    """|grad f|^2 = M^{ab} d_a f d_b f for the metric g at the jet's point."""
    return jnp.einsum("a,ab,b->", jet.grad, real_inverse(g), jet.grad)


def laplacian(metric_fn: MetricField, x: jax.Array, jet: FunctionJet) -> jax.Array:
    """The Laplace–Beltrami operator Delta f = M^{ab} (d_a d_b f - Gamma^c_{ab} d_c f)
    (the analyst's sign: Delta = sum of d^2/dx_a^2 on flat space, spectrum <= 0)."""
    m_inv = real_inverse(metric_fn(x))
    gam = christoffel(metric_fn, x)
    return jnp.einsum("ab,ab->", m_inv, jet.hess - jnp.einsum("cab,c->ab", gam, jet.grad))
