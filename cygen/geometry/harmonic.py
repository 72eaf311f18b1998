"""Smooth sections of T_X and the pointwise pieces of harmonic T_X-valued (0,1)-forms.

A Kodaira-Spencer class has many representatives mu + dbar s (s a smooth section of T_X);
the harmonic one for a metric g has the least L^2(g) norm (its Euler-Lagrange equation is
dbar^dagger_g eta = 0), so finding it is a linear least-squares problem once s is expanded
in a basis (:mod:`cygen.evaluate.harmonic`).  The basis is global and complete as the degree
grows:

    sigma = P_X( phi_{alpha beta}(Z) Z_j d/dZ_i ),
    phi_{alpha beta} = prod_f Z_f^alpha_f conj(Z_f)^beta_f / |Z_f|^(2k),  |alpha_f| = |beta_f| = k,

Z_j d/dZ_i (i, j in one factor) spanning the holomorphic vector fields of each projective
factor, phi the bihomogeneous functions of degree (k, k) in every factor (dense in the smooth
functions as k grows, and containing degree k - 1) and P_X the Fubini-Study-orthogonal
projection of the ambient tangent space onto T_X (the lift of :mod:`cygen.geometry.moduli`
run backwards: xi -> xi + L J xi).  Each element has a definite charge under the phase
symmetries (:func:`charges`), so a deformation of charge rho couples only to the elements
of the same charge when the metric is symmetric.

Single point, pure: ``jax.vmap`` outside.  The components are in the chart's free
coordinates u, as the Kodaira-Spencer matrices: ``B[I, i, j] = dbar_{u_j} sigma_I^{u_i}``.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import moduli as km
from cygen.geometry import runtime as rt

__all__ = ["SectionBasis", "SectionJets", "charges", "codifferential", "dbar_sections",
           "divergence", "frame", "holomorphic_derivative", "in_frame", "jets", "orthonormal",
           "pairing", "product_jets", "section_basis", "section_jets", "sections"]


class SectionBasis(NamedTuple):
    """Static description of the basis elements phi_{alpha beta} Z_j d/dZ_i (numpy)."""

    degree: int
    target: np.ndarray  # (B,) global index i of d/dZ_i
    source: np.ndarray  # (B,) global index j of the factor Z_j
    alpha: np.ndarray  # (B, N) holomorphic exponents (degree k in every factor)
    beta: np.ndarray  # (B, N) antiholomorphic exponents

    def __len__(self) -> int:
        return len(self.target)

    def subset(self, keep: np.ndarray) -> SectionBasis:
        return SectionBasis(self.degree, self.target[keep], self.source[keep],
                            self.alpha[keep], self.beta[keep])


def _monomials(offset: int, size: int, n: int, k: int) -> np.ndarray:
    out = []
    for combo in itertools.combinations_with_replacement(range(size), k):
        e = np.zeros(n, int)
        for c in combo:
            e[offset + c] += 1
        out.append(e)
    return np.asarray(out).reshape(-1, n)


def section_basis(geo: rt.Geometry, degree: int) -> SectionBasis:
    """Every phi_{alpha beta} Z_j d/dZ_i with phi of degree (``degree``, ``degree``) in each
    factor and i, j in one factor."""
    n = len(geo.factor_of)
    per_factor = [_monomials(o, s, n, degree) for o, s in zip(geo.offsets, geo.factor_sizes,
                                                               strict=True)]
    mono = per_factor[0]
    for m in per_factor[1:]:
        mono = (mono[:, None, :] + m[None, :, :]).reshape(-1, n)
    fields = [(o + i, o + j) for o, s in zip(geo.offsets, geo.factor_sizes, strict=True)
              for i in range(s) for j in range(s)]
    rows = [(i, j, a, b) for i, j in fields for a in range(len(mono)) for b in range(len(mono))]
    t, s, a, b = (np.asarray(x) for x in zip(*rows, strict=True))
    return SectionBasis(degree, t, s, mono[a], mono[b])


def charges(basis: SectionBasis, generators: np.ndarray, order: int) -> np.ndarray:
    """(B, generators) charges of the elements under z_i -> w^(p_i) z_i (w = exp(2 pi i / N)):
    g_* sigma = w^c sigma with c = p_i - p_j + p . (beta - alpha), the convention of the
    deformation charges rho of :func:`cygen.evaluate.moduli.phase_charges`."""
    p = np.asarray(generators, int).reshape(-1, basis.alpha.shape[1])
    c = (p[:, basis.target].T - p[:, basis.source].T + (basis.beta - basis.alpha) @ p.T)
    return np.mod(c, order)


def _powers(z: jax.Array, k: int) -> jax.Array:
    """(k + 1, N): z^e for e = 0..k."""
    out = [jnp.ones_like(z)]
    for _ in range(k):
        out.append(out[-1] * z)
    return jnp.stack(out)


def sections(geo: rt.Geometry, basis: SectionBasis, x: jax.Array, chart) -> jax.Array:
    """(B, dim): the basis sections at ``x`` (a point in the chart's frame, on or near X), in
    the chart's free coordinates."""
    n = x.shape[0]
    cols = jnp.arange(n)
    hol = jnp.prod(_powers(x, basis.degree)[basis.alpha, cols], axis=1)
    anti = jnp.prod(_powers(jnp.conj(x), basis.degree)[basis.beta, cols], axis=1)
    fac = jnp.asarray(geo.factor_of)
    norm = jax.ops.segment_sum(jnp.abs(x) ** 2, fac, num_segments=len(geo.factor_sizes))
    scale = jnp.prod(norm ** basis.degree)
    v = (hol * anti / scale * x[basis.source])[:, None] * jax.nn.one_hot(basis.target, n,
                                                                         dtype=x.dtype)
    affine = jnp.asarray(geo.affine)[chart]
    xi = v - v[:, affine][:, fac] * x[None, :]  # homogeneous -> the chart's affine coordinates
    free = jnp.asarray(geo.free)[chart]
    var = jnp.concatenate([free, jnp.asarray(geo.dependent)[chart]])
    xi = xi[:, var]
    jac = geo.jacobian(x)[:, var]
    tangent = xi + (km.lift_matrix(geo, x, var) @ (jac @ xi.T)).T  # P_X: J (xi + L J xi) = 0
    return tangent[:, : free.shape[0]]


def dbar_sections(geo: rt.Geometry, basis: SectionBasis, z: jax.Array, chart) -> jax.Array:
    """(B, dim, dim): B[I, i, j] = dbar_{u_j} sigma_I^{u_i} at ``z`` along X."""
    zc = rt.chart_point(geo, z, chart)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), chart).pullback
    dim = p.shape[0]
    d = jax.vmap(lambda t: jax.jvp(lambda y: sections(geo, basis, y, chart), (zc,), (t,))[1])(
        jnp.concatenate([p, 1j * p]))
    return jnp.moveaxis(0.5 * (d[:dim] + 1j * d[dim:]), 0, -1)


class SectionJets(NamedTuple):
    """The basis sections and their derivatives along X at one point (chart components)."""

    value: jax.Array  # (B, d): sigma_I^i
    d: jax.Array  # (d, B, d): d_{u_l} sigma_I^i  [l, I, i]
    dbar: jax.Array  # (B, d, d): dbar_{u_k} sigma_I^i  [I, i, k]
    d_dbar: jax.Array  # (d, B, d, d): d_{u_l} dbar_{u_k} sigma_I^i  [l, I, i, k]


def jets(fn, zc: jax.Array, pullback: jax.Array):
    """(value, d_l, dbar_k, d_l dbar_k) of ``fn`` (a function of the chart-frame point) along
    X at ``zc``, shapes (*out), (d, *out), (d, *out), (d, d, *out).  The mixed derivative
    along X is the ambient mixed Hessian on the tangent vectors dZ/du (the embedding is
    holomorphic), so constant directions suffice; forward mode throughout."""
    dim = pullback.shape[0]
    tangents = jnp.concatenate([pullback, 1j * pullback])

    def first(y):
        return jax.vmap(lambda t: jax.jvp(fn, (y,), (t,))[1])(tangents)

    d1, d2 = jax.vmap(lambda t: jax.jvp(first, (zc,), (t,)))(tangents)
    d1 = d1[0]  # the primal does not depend on the outer tangent
    anti = 0.5 * (d2[:, :dim] + 1j * d2[:, dim:])  # (2d, d_k, ...): dbar_k, differentiated
    return (fn(zc), 0.5 * (d1[:dim] - 1j * d1[dim:]), 0.5 * (d1[:dim] + 1j * d1[dim:]),
            0.5 * (anti[:dim] - 1j * anti[dim:]))


def _factors(basis: SectionBasis) -> tuple[SectionBasis, np.ndarray, np.ndarray, np.ndarray]:
    """Each element as (field, function): the distinct fields Z_j d/dZ_i (a degree-0 basis),
    the distinct (alpha, beta) and the two index maps."""
    pairs, field = np.unique(np.stack([basis.target, basis.source], 1), axis=0,
                             return_inverse=True)
    exps, func = np.unique(np.concatenate([basis.alpha, basis.beta], 1), axis=0,
                           return_inverse=True)
    n = basis.alpha.shape[1]
    fields = SectionBasis(0, pairs[:, 0], pairs[:, 1], np.zeros((len(pairs), n), int),
                          np.zeros((len(pairs), n), int))
    return fields, exps, field.ravel(), func.ravel()


def _functions(geo: rt.Geometry, exps: np.ndarray, degree: int, x: jax.Array) -> jax.Array:
    """(A,) phi = Z^alpha conj(Z)^beta / prod_f |Z_f|^(2 degree) at ``x``."""
    n = x.shape[0]
    cols = jnp.arange(n)
    hol = jnp.prod(_powers(x, degree)[exps[:, :n], cols], axis=1)
    anti = jnp.prod(_powers(jnp.conj(x), degree)[exps[:, n:], cols], axis=1)
    fac = jnp.asarray(geo.factor_of)
    norm = jax.ops.segment_sum(jnp.abs(x) ** 2, fac, num_segments=len(geo.factor_sizes))
    return hol * anti / jnp.prod(norm ** degree)


def section_jets(geo: rt.Geometry, basis: SectionBasis, z: jax.Array, chart) -> SectionJets:
    """:class:`SectionJets` of every element at ``z``, by the product rule from the jets of
    the few distinct projected fields P_X(Z_j d/dZ_i) and scalar functions phi (the cost
    grows with their numbers, not with the basis size)."""
    zc = rt.chart_point(geo, z, chart)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), chart).pullback
    fields, exps, f, a = _factors(basis)
    xi, dxi, bxi, ddxi = jets(lambda y: sections(geo, fields, y, chart), zc, p)
    phi, dphi, bphi, ddphi = jets(partial(_functions, geo, exps, basis.degree), zc, p)
    xi, dxi, bxi, ddxi, phi, dphi, bphi, ddphi = jax.lax.optimization_barrier(
        (xi, dxi, bxi, ddxi, phi, dphi, bphi, ddphi))
    return product_jets((xi[f], dxi[:, f], bxi[:, f], ddxi[:, :, f]),
                        (phi[a], dphi[:, a], bphi[:, a], ddphi[:, :, a]))


def product_jets(field: tuple, function: tuple) -> SectionJets:
    """:class:`SectionJets` of the sections phi_I xi_I by the product rule, from the
    :func:`jets` of fields xi (B, d) and of scalar functions phi (B,)."""
    xi, dxi, bxi, ddxi = field
    phi, dphi, bphi, ddphi = function
    value = phi[:, None] * xi
    d = dphi[..., None] * xi + phi[:, None] * dxi
    dbar = bphi[..., None] * xi + phi[:, None] * bxi  # (k, B, i)
    d_dbar = (ddphi[..., None] * xi + bphi[None, ..., None] * dxi[:, None]
              + dphi[:, None, :, None] * bxi[None] + phi[:, None] * ddxi)  # (l, k, B, i)
    return SectionJets(value, d, jnp.moveaxis(dbar, 0, -1), jnp.moveaxis(d_dbar, 1, -1))


def divergence(jet: SectionJets, dlog_f: jax.Array) -> jax.Array:
    """(B,) div_Omega sigma_I = d_{u_i} sigma_I^i + sigma_I^i d_{u_i} log f (f: Omega's chart
    coefficient, ``dlog_f`` its derivatives along X): L_sigma Omega = div(sigma) Omega."""
    return jnp.einsum("iIi->I", jet.d) + jet.value @ dlog_f


def frame(g: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(C, C^-1) with g = C C^dagger (Cholesky): what :func:`in_frame` needs."""
    c = rt.cholesky_small(g)
    return c, rt.solve_small(c, jnp.eye(c.shape[0], dtype=c.dtype))


def in_frame(c: jax.Array, c_inv: jax.Array, m: jax.Array) -> jax.Array:
    """C^T m C^-dagger: the forms ``m`` (..., dim, dim) in the g-orthonormal frame of
    :func:`frame`."""
    return jnp.einsum("ip,...ik,kq->...pq", c, m, jnp.conj(c_inv).T)


def orthonormal(g: jax.Array, m: jax.Array) -> jax.Array:
    """T_X-valued (0,1)-forms ``m`` (..., dim, dim) in a g-orthonormal frame: with
    g = C C^dagger, C^T m C^-dagger, so that the pointwise inner product
    <X, Y>_g = g_{i jbar} g^{l kbar} X^i_kbar conj(Y^j_lbar) is the Frobenius product."""
    return in_frame(*frame(g), m)


def pairing(g: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
    """<X, Y>_g for single (dim, dim) forms (the definition :func:`orthonormal` implements)."""
    g_inv = rt.solve_small(g, jnp.eye(g.shape[0], dtype=g.dtype))
    return jnp.einsum("ij,kl,ik,jl->", g, g_inv, x, jnp.conj(y))


def holomorphic_derivative(fn, zc: jax.Array, pullback: jax.Array) -> jax.Array:
    """d_{u_l} of ``fn`` (a function of the chart-frame point) along X: (dim, *out)."""
    dim = pullback.shape[0]
    d = jax.vmap(lambda t: jax.jvp(fn, (zc,), (t,))[1])(jnp.concatenate([pullback,
                                                                          1j * pullback]))
    return 0.5 * (d[:dim] - 1j * d[dim:])


def codifferential(g: jax.Array, dg: jax.Array, e: jax.Array, de: jax.Array) -> jax.Array:
    """dbar^dagger of T_X-valued (0,1)-forms for the Kähler metric g (Chern connection):

        (dbar^dagger eta)^i = -g^{l kbar} (d_l eta^i_kbar + Gamma^i_{lm} eta^m_kbar),
        Gamma^i_{lm} = g^{i jbar} d_l g_{m jbar},

    with g (d, d), dg[l] = d_l g (d, d, d), e (..., d, d) = eta^i_kbar and
    de (d, ..., d, d) = d_l e: returns (..., d)."""
    g_inv = rt.solve_small(g, jnp.eye(g.shape[0], dtype=g.dtype))
    gamma = jnp.einsum("ji,lmj->ilm", g_inv, dg)
    de = jnp.moveaxis(de, 0, -3)  # (..., l, i, k)
    return -(jnp.einsum("kl,...lik->...i", g_inv, de)
             + jnp.einsum("kl,ilm,...mk->...i", g_inv, gamma, e))
