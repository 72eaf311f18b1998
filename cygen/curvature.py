"""Curvature of any Hermitian metric on X in local holomorphic chart coordinates (single point).

Conventions (see docs/curvature.md for the derivations)
-------------------------------------------------------
A metric is g_{i jbar} in the chart coordinates u of docs/conventions.md, Hermitian positive
definite, with Kähler form omega = (i/2) g_{i jbar} du^i ^ dubar^j, so that
omega^n / n! = det g vol_0 (vol_0 = prod_i (i/2) du_i ^ dubar_i) and the Riemannian metric is
ds^2 = g_{i jbar} du^i dubar^j.  Indices: ``g[i, j] = g_{i jbar}``,
``dg[k, i, j] = d_k g_{i jbar}``, ``ddg[k, l, i, j] = d_k dbar_l g_{i jbar}``.

* Christoffel symbols of the Chern connection: Gamma^p_{k i} = g^{p qbar} d_k g_{i qbar}
  (``christoffel(...)[k, i, p]``; g^{p qbar} is ``inv(g)[q, p]``).
* Chern curvature: R_{i jbar k lbar} = -d_k dbar_l g_{i jbar} + g^{p qbar} d_k g_{i qbar}
  dbar_l g_{p jbar} (``riemann(...)[i, j, k, l]``); the curvature 2-form is
  Theta^a_b = g^{a jbar} R_{b jbar k lbar} du^k ^ dubar^l.
* Ricci form: Ric_{k lbar} = g^{i jbar} R_{i jbar k lbar} = -d_k dbar_l log det g; the first
  Chern form is c_1 = (i/2 pi) Ric_{k lbar} du^k ^ dubar^l.  On P^n with Fubini-Study
  (K = (1/pi) log |z|^2) Ric = (n+1) pi g, i.e. c_1 = (n+1) omega.
* Ricci scalar: R = g^{k lbar} Ric_{k lbar} (cymetric's normalisation; the Riemannian scalar
  curvature of ds^2 is 4 R).  P^n with FS: R = n (n+1) pi.
* Chern forms: c(g) = det(1 + (i/2 pi) Theta), c_k its (k, k) part.  Returned as densities
  d_k := (c_k ^ omega^(n-k)) / (omega^n / n!), so int_X c_k ^ omega^(n-k) = int_X d_k dvol_g;
  d_n = c_n / (omega^n/n!) is the Euler density (chi = int_X c_n), d_1 = (n-1)! R / pi.

Top forms: a (1,1)-form written alpha = A_{k l} (i/2) du^k ^ dubar^l has
alpha_1 ^ ... ^ alpha_n = sum_{tau, rho in S_n} sgn(tau) sgn(rho) prod_r A_r[tau r, rho r] vol_0,
because du^{k_1} ^ dubar^{l_1} ^ ... ^ du^{k_n} ^ dubar^{l_n} = sgn(tau) sgn(rho)
du^1 ^ dubar^1 ^ ... ^ du^n ^ dubar^n for k = tau, l = rho.  A determinant of a matrix of
(commuting) 2-forms adds sum_sigma sgn(sigma) over the matrix indices: :func:`top_form`.  In
this normalisation (i/2 pi) Theta has coefficients R^a_{b k l}/pi and omega has g, and
det(t omega 1 + (i/2 pi) Theta) = det(g)^-1 top(t g (x) g + R / pi) = sum_k t^(n-k)
c_k ^ omega^(n-k); so d_k is the t^(n-k) coefficient of top(t g (x) g + R/pi) / det(g)^2 and
e = d_n = top(R) / (pi^n det(g)^2).  No fitted constants: P^1, P^2, P^3, the torus, K3 and
the threefolds are checked by integration in tests/test_curvature.py.

How derivatives are taken (:func:`metric_jet`)
----------------------------------------------
* ``metric_fn=None`` (or ``"fs"``): the Fubini-Study metric in closed form from the
  embedding's holomorphic jets (:func:`cygen.implicit.jets`): per factor,
  g = (t/pi) d dbar log r with r(u) = |Z(u)|^2 and d_I dbar_J r = <d_I Z, d_J Z>, so g, dg
  and d dbar g need only Z, P = dZ/du and Q = d^2 Z/du^2 (:func:`fs_jet`).  Fast.
* any callable ``metric_fn(z, chart) -> (dim, dim)`` (FS is ``runtime.fs_metric``; a trained
  run offers ``run.metric_in``): forward-mode ``jacfwd`` of the metric along the real
  coordinates x, y of u = u0 + x + i y, combined into Wirtinger derivatives.  With
  ``embedding="implicit"`` the point is Z(u) from :func:`cygen.implicit.embed` (exact to all
  orders).  With ``embedding="tangent"`` (the default, faster) it is the tangent line
  z0 + (u - u0) P: since Z(u) = z0 + (u - u0) P + O(|u - u0|^2) with a *holomorphic*
  remainder, d_k g and d_k dbar_l g of g(Z(u)) at u0 only involve P (the chain rule terms with
  d_k dbar_l Z or dbar_l Z vanish), so both embeddings give identical results (tested);
  only holomorphic second derivatives d_k d_l g, which curvature never uses, differ.
* any object with a ``jet(geo, z, chart) -> MetricJet`` method: used as is.  :class:`PhiMetric`
  is one, for the ``phi`` model of :mod:`cygen.models` (g = g_FS + d dbar phi, phi an MLP of
  projectively invariant features): it propagates the bidegree-(2, 2) jets of the features
  through the MLP, one matrix product per layer for all channels, ~20x faster than nesting
  forward-mode AD around the model; :func:`fast_metric` builds it from a trained run, and
  :func:`cygen.euler.euler` uses it after checking that it reproduces the run's metric.

Everything is single-point, jit/vmap-friendly, and never branches in Python on traced values.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen import implicit
from cygen import runtime as rt


class MetricJet(NamedTuple):
    """A metric and its first derivatives at one point, in the chart's coordinates."""

    g: jax.Array  # (dim, dim)             g_{i jbar}
    dg: jax.Array  # (dim, dim, dim)       [k, i, j] = d_k g_{i jbar}
    ddg: jax.Array  # (dim, dim, dim, dim) [k, l, i, j] = d_k dbar_l g_{i jbar}


class Curvature(NamedTuple):
    """Everything at one point (see the module docstring for the conventions)."""

    g: jax.Array  # (dim, dim)
    det_g: jax.Array  # () real: omega^n/n! = det_g vol_0
    riemann: jax.Array  # (dim,)*4 R_{i jbar k lbar}
    ricci: jax.Array  # (dim, dim) Ric_{k lbar} = -d_k dbar_l log det g
    scalar: jax.Array  # () real R = g^{k lbar} Ric_{k lbar}
    chern: jax.Array  # (dim,) real d_k = c_k ^ omega^(n-k) / (omega^n/n!), k = 1..n
    euler: jax.Array  # () real d_n = c_n / (omega^n/n!)


# ----------------------------------------------------------------------------- linear algebra


def inverse(m: jax.Array) -> jax.Array:
    """Inverse of a small (dim, dim) matrix: closed-form adjugate for dim <= 3."""
    return rt.solve_small(m, jnp.eye(m.shape[-1], dtype=m.dtype))


def ein(spec: str, *ops: jax.Array) -> jax.Array:
    """``jnp.einsum`` for tiny operands as broadcast-multiply-and-sum.

    XLA on CPU fuses elementwise products and reductions over a vmapped batch into one loop,
    whereas tiny batched ``dot_general``s are slow; every dimension here is <= N.
    """
    ins, out = spec.split("->")
    letters = list(out) + sorted({c for s in ins.split(",") for c in s} - set(out))
    acc = None
    for s, x in zip(ins.split(","), ops, strict=True):
        order = sorted(range(len(s)), key=lambda i: letters.index(s[i]))
        x = jnp.transpose(x, order)
        shape = [1] * len(letters)
        for j, i in enumerate(order):
            shape[letters.index(s[i])] = x.shape[j]
        x = x.reshape(shape)
        acc = x if acc is None else acc * x
    if len(letters) > len(out):
        acc = acc.sum(axis=tuple(range(len(out), len(letters))))
    return acc


def top_form(t: jax.Array) -> jax.Array:
    """The top-form coefficient (in units of vol_0) of det_{a b} of a matrix of (1,1)-forms.

    ``t[a, b, k, l]``: the entry (a, b) is sum_{k l} t[a, b, k, l] (i/2) du^k ^ dubar^l.
    Returns sum over sigma, tau, rho in S_n of sgn(sigma tau rho) prod_r
    t[r, sigma r, tau r, rho r] (module docstring), by Laplace expansion along the rows r
    with the minors shared (243 products for n = 3 instead of 432), unrolled into scalar
    operations that XLA fuses over a vmapped batch.
    """
    n = t.shape[0]
    entries = {}

    def entry(r, b, k, l):
        key = (r, b, k, l)
        if key not in entries:
            entries[key] = t[r, b, k, l]
        return entries[key]

    @functools.cache
    def minor(r: int, cols: tuple, ks: tuple, ls: tuple):
        if r == n:
            return None  # the empty product
        total = None
        for ib, b in enumerate(cols):
            for ik, k in enumerate(ks):
                for il, l in enumerate(ls):
                    rest = minor(r + 1, cols[:ib] + cols[ib + 1 :], ks[:ik] + ks[ik + 1 :],
                                 ls[:il] + ls[il + 1 :])
                    term = entry(r, b, k, l) if rest is None else entry(r, b, k, l) * rest
                    if (ib + ik + il) % 2:
                        total = -term if total is None else total - term
                    else:
                        total = term if total is None else total + term
        return total

    full = tuple(range(n))
    return minor(0, full, full, full)


def _sign(p: tuple[int, ...]) -> int:
    s = 1
    for i in range(len(p)):
        for j in range(i + 1, len(p)):
            s = -s if p[i] > p[j] else s
    return s


@functools.cache
def _top_terms(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (terms, n) into t[a, b, k, l] and signs (terms,) of every top-form term."""
    perms = list(itertools.permutations(range(n)))
    idx, sgn = [], []
    for s, t, r in itertools.product(perms, repeat=3):
        idx.append([((a * n + s[a]) * n + t[a]) * n + r[a] for a in range(n)])
        sgn.append(_sign(s) * _sign(t) * _sign(r))
    return np.asarray(idx, np.int32), np.asarray(sgn, np.float64)


def chern_polynomial(a: jax.Array, b: jax.Array) -> jax.Array:
    """(n+1,) coefficients c_k of t^(n-k), k = 0..n, of ``top_form(t a + b)``.

    Every term of the top form is a product over the rows r of (t a_r + b_r); the products
    are expanded in t term by term (a gather of the (n!)^3 terms: small to compile).
    """
    n = a.shape[0]
    idx, sgn = _top_terms(n)
    av, bv = a.reshape(-1)[idx], b.reshape(-1)[idx]  # (terms, n)
    coef = [bv[:, 0], av[:, 0]]  # coef[m] multiplies t^m
    for r in range(1, n):
        new = [coef[0] * bv[:, r]]
        new += [coef[m] * bv[:, r] + coef[m - 1] * av[:, r] for m in range(1, len(coef))]
        new.append(coef[-1] * av[:, r])
        coef = new
    return (jnp.stack(coef) @ jnp.asarray(sgn, coef[0].dtype))[::-1]


# ----------------------------------------------------------------------------- metric jets


def fs_jet(geo: rt.Geometry, z: jax.Array, chart) -> MetricJet:
    """Fubini-Study g, d g and d dbar g in closed form from the embedding's jets.

    Per factor a with Kähler modulus t_a: g = (t_a/pi) d dbar log r, r = <Z, Z>; with
    a_i = <P_i, Z>, S_ij = <P_i, P_j>, B_ik = <Q_ik, Z>, C_ikj = <Q_ik, P_j>,
    D_ikjl = <Q_ik, Q_jl> (<x, y> = sum x conj(y)) every derivative of r is one of these.
    """
    jt = implicit.jets(geo, z, chart)
    g = dg = ddg = 0
    for t, o, s in zip(geo.kahler, geo.offsets, geo.factor_sizes, strict=True):
        zz, p, q = jt.zc[o : o + s], jt.pullback[:, o : o + s], jt.second[:, :, o : o + s]
        zb, pb, qb = jnp.conj(zz), jnp.conj(p), jnp.conj(q)
        r = jnp.real(jnp.vdot(zz, zz))
        a = ein("im,m->i", p, zb)  # d_i r
        ab = jnp.conj(a)  # dbar_j r
        sm = ein("im,jm->ij", p, pb)  # [i, j]
        bm = ein("ikm,m->ik", q, zb)  # [i, k]
        cm = ein("ikm,jm->ikj", q, pb)  # [i, k, j]
        dm = ein("ikm,jlm->ikjl", q, qb)
        c = t / jnp.pi
        g = g + c * (sm / r - jnp.outer(a, ab) / r**2)
        dgk = (
            ein("ikj->kij", cm) / r
            - ein("ij,k->kij", sm, a) / r**2
            - ein("ik,j->kij", bm, ab) / r**2
            - ein("i,kj->kij", a, sm) / r**2
            + 2 * ein("i,j,k->kij", a, ab, a) / r**3
        )
        cb = jnp.conj(cm)  # [j, l, i] -> conj C_jli
        bbar = jnp.conj(bm)
        dd = (
            ein("ikjl->klij", dm) / r
            - ein("ikj,l->klij", cm, ab) / r**2
            - ein("jli,k->klij", cb, a) / r**2
            - ein("ij,kl->klij", sm, sm) / r**2
            + 2 * ein("ij,k,l->klij", sm, a, ab) / r**3
            - ein("ikl,j->klij", cm, ab) / r**2
            - ein("ik,jl->klij", bm, bbar) / r**2
            + 2 * ein("ik,j,l->klij", bm, ab, ab) / r**3
            - ein("il,kj->klij", sm, sm) / r**2
            - ein("i,jlk->klij", a, cb) / r**2
            + 2 * ein("i,kj,l->klij", a, sm, ab) / r**3
            + 2 * ein("il,j,k->klij", sm, ab, a) / r**3
            + 2 * ein("i,jl,k->klij", a, bbar, a) / r**3
            + 2 * ein("i,j,kl->klij", a, ab, sm) / r**3
            - 6 * ein("i,j,k,l->klij", a, ab, a, ab) / r**4
        )
        dg = dg + c * dgk
        ddg = ddg + c * dd
    return MetricJet(g, dg, ddg)


def autodiff_jet(metric_fn, geo: rt.Geometry, z: jax.Array, chart,
                 embedding: str = "tangent") -> MetricJet:
    """g, d g, d dbar g of ``metric_fn(z, chart)`` by forward-mode AD (see the module docstring).

    The metric is differentiated along the real coordinates (x, y) of u = u0 + x + i y, and
    d_k = (d_x - i d_y)/2, dbar_l = (d_x + i d_y)/2.
    """
    zc = rt.chart_point(geo, z, chart)
    dim = int(geo.free.shape[1])
    if embedding == "tangent":
        p = rt.frame_at(geo, zc, geo.jacobian(zc), chart).pullback

        def point(s):
            return zc + s @ p
    elif embedding == "implicit":
        u0 = implicit.free_coordinates(geo, zc, chart)
        embed = implicit.embed(geo, chart, zc)

        def point(s):
            return embed(u0 + s)
    else:
        raise ValueError(f"embedding must be 'tangent' or 'implicit', got {embedding!r}")

    def along(x):
        v = metric_fn(point(x[:dim] + 1j * x[dim:]), chart)
        return v, v

    def first(x):
        jac, g = jax.jacfwd(along, has_aux=True)(x)
        return jac, (jac, g)

    x0 = jnp.zeros(2 * dim, zc.real.dtype)
    hess, (jac, g) = jax.jacfwd(first, has_aux=True)(x0)
    dg = 0.5 * (jac[..., :dim] - 1j * jac[..., dim:])  # [i, j, k]
    xx, xy = hess[..., :dim, :dim], hess[..., :dim, dim:]
    yx, yy = hess[..., dim:, :dim], hess[..., dim:, dim:]
    ddg = 0.25 * (xx + yy + 1j * (xy - yx))  # [i, j, k, l]
    return MetricJet(g, jnp.moveaxis(dg, -1, 0), jnp.moveaxis(ddg, (-2, -1), (0, 1)))


def metric_callable(metric_fn: Any):
    if hasattr(metric_fn, "metric_in") and not callable(getattr(metric_fn, "jet", None)):
        return metric_fn.metric_in  # a trained run (cygen.runs.Run)
    return metric_fn


def metric_jet(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, *,
               embedding: str = "tangent") -> MetricJet:
    """g, d g and d dbar g of a metric at ``z`` in ``chart`` (default: ``select_chart(z)``).

    ``metric_fn``: ``None``/``"fs"`` (closed-form Fubini-Study), a callable
    ``(z, chart) -> (dim, dim)``, a trained run (its ``metric_in`` is used), or an object with
    a ``jet(geo, z, chart)`` method.
    """
    if chart is None:
        chart = rt.select_chart(geo, z)
    if metric_fn is None or (isinstance(metric_fn, str) and metric_fn == "fs"):
        return fs_jet(geo, z, chart)
    if callable(getattr(metric_fn, "jet", None)):
        return metric_fn.jet(geo, z, chart)
    return autodiff_jet(metric_callable(metric_fn), geo, z, chart, embedding)


# ----------------------------------------------------------------------------- phi models


class RealJet(NamedTuple):
    """Derivatives of real functions h(s, sbar) at s = 0 up to bidegree (2, 2), per unit.

    The unit axis is last.  ``v`` (U,) real; ``d1[i]`` = d_i h; ``d2[i, k]`` = d_i d_k h;
    ``m[i, j]`` = d_i dbar_j h; ``t[i, k, j]`` = d_i d_k dbar_j h;
    ``f[i, k, j, l]`` = d_i d_k dbar_j dbar_l h.  Every other derivative of bidegree <= (2, 2)
    is a conjugate of these (h is real), e.g. d_i dbar_j dbar_l h = conj(t[j, l, i]).
    """

    v: jax.Array
    d1: jax.Array
    d2: jax.Array
    m: jax.Array
    t: jax.Array
    f: jax.Array


def _jet_compose(h: RealJet, s1, s2, s3, s4, value) -> RealJet:
    """sigma(h) by Faa di Bruno, from sigma's derivatives s1..s4 at h.v (set partitions)."""
    d1, d2, m, t = h.d1, h.d2, h.m, h.t
    c1, c2, ct = jnp.conj(d1), jnp.conj(d2), jnp.conj(t)
    return RealJet(
        value,
        s1 * d1,
        s2 * ein("iu,ku->iku", d1, d1) + s1 * d2,
        s2 * ein("iu,ju->iju", d1, c1) + s1 * m,
        s3 * ein("iu,ku,ju->ikju", d1, d1, c1)
        + s2 * (ein("iku,ju->ikju", d2, c1) + ein("iu,kju->ikju", d1, m)
                + ein("ku,iju->ikju", d1, m))
        + s1 * t,
        s4 * ein("iu,ku,ju,lu->ikjlu", d1, d1, c1, c1)
        + s3 * (ein("iku,ju,lu->ikjlu", d2, c1, c1) + ein("jlu,iu,ku->ikjlu", c2, d1, d1)
                + ein("iju,ku,lu->ikjlu", m, d1, c1) + ein("ilu,ku,ju->ikjlu", m, d1, c1)
                + ein("kju,iu,lu->ikjlu", m, d1, c1) + ein("klu,iu,ju->ikjlu", m, d1, c1))
        + s2 * (ein("iku,jlu->ikjlu", d2, c2) + ein("iju,klu->ikjlu", m, m)
                + ein("ilu,kju->ikjlu", m, m) + ein("ikju,lu->ikjlu", t, c1)
                + ein("iklu,ju->ikjlu", t, c1) + ein("jliu,ku->ikjlu", ct, d1)
                + ein("jlku,iu->ikjlu", ct, d1))
        + s1 * h.f,
    )


def _jet_mul(u: RealJet, w: RealJet) -> RealJet:
    """The Leibniz rule for a product of two real jets (sum over splittings)."""
    uc1, uc2, uct = jnp.conj(u.d1), jnp.conj(u.d2), jnp.conj(u.t)
    wc1, wc2, wct = jnp.conj(w.d1), jnp.conj(w.d2), jnp.conj(w.t)
    t = (u.t * w.v + u.v * w.t
         + ein("iku,ju->ikju", u.d2, wc1) + ein("ju,iku->ikju", uc1, w.d2)
         + ein("iju,ku->ikju", u.m, w.d1) + ein("ku,iju->ikju", u.d1, w.m)
         + ein("kju,iu->ikju", u.m, w.d1) + ein("iu,kju->ikju", u.d1, w.m))
    f = (u.f * w.v + u.v * w.f
         # three and one
         + ein("ikju,lu->ikjlu", u.t, wc1) + ein("lu,ikju->ikjlu", uc1, w.t)
         + ein("iklu,ju->ikjlu", u.t, wc1) + ein("ju,iklu->ikjlu", uc1, w.t)
         + ein("jliu,ku->ikjlu", uct, w.d1) + ein("ku,jliu->ikjlu", u.d1, wct)
         + ein("jlku,iu->ikjlu", uct, w.d1) + ein("iu,jlku->ikjlu", u.d1, wct)
         # two and two
         + ein("iku,jlu->ikjlu", u.d2, wc2) + ein("jlu,iku->ikjlu", uc2, w.d2)
         + ein("iju,klu->ikjlu", u.m, w.m) + ein("klu,iju->ikjlu", u.m, w.m)
         + ein("ilu,kju->ikjlu", u.m, w.m) + ein("kju,ilu->ikjlu", u.m, w.m))
    return RealJet(
        u.v * w.v,
        u.d1 * w.v + u.v * w.d1,
        u.d2 * w.v + u.v * w.d2 + ein("iu,ku->iku", u.d1, w.d1) + ein("ku,iu->iku", u.d1, w.d1),
        u.m * w.v + u.v * w.m + ein("iu,ju->iju", u.d1, wc1) + ein("ju,iu->iju", uc1, w.d1),
        t, f)


def _holomorphic_products(a: jax.Array, b: jax.Array, c: jax.Array) -> RealJet:
    """Jets of Re(c Z_a conj(Z_b)) (units: the pairs (a, b)); ``a``, ``b`` are the
    holomorphic jets (Z, P, Q) of the coordinates, each (value (U,), (d, U), (d, d, U))."""
    (za, pa, qa), (zb, pb, qb) = a, b
    cz, cp, cq = jnp.conj(zb), jnp.conj(pb), jnp.conj(qb)
    ca, cpa, cqa = jnp.conj(za), jnp.conj(pa), jnp.conj(qa)
    cc = jnp.conj(c)

    def sym(x, y):  # (1/2)(c x + conj(c) y): the real part of c H_a[I] conj(H_b[J])
        return 0.5 * (c * x + cc * y)

    return RealJet(
        jnp.real(c * za * cz),
        sym(pa * cz, ca * pb),
        sym(qa * cz, ca * qb),
        sym(ein("iu,ju->iju", pa, cp), ein("ju,iu->iju", cpa, pb)),
        sym(ein("iku,ju->ikju", qa, cp), ein("ju,iku->ikju", cpa, qb)),
        sym(ein("iku,jlu->ikjlu", qa, cq), ein("jlu,iku->ikjlu", cqa, qb)),
    )


def _jet_concat(jets: list[RealJet]) -> RealJet:
    return RealJet(*(jnp.concatenate(parts, axis=-1) for parts in zip(*jets, strict=True)))


def _jet_sum_units(h: RealJet) -> RealJet:
    return RealJet(*(jnp.sum(x, axis=-1, keepdims=True) for x in h))


@functools.cache
def _pairs(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The d(d+1)/2 index pairs i <= k, and the (d, d) map (i, k) -> pair (symmetric)."""
    i, k = np.triu_indices(d)
    index = np.zeros((d, d), np.int32)
    index[i, k] = index[k, i] = np.arange(len(i))
    return i, k, index


def _hermitian_pack(x: jax.Array) -> jax.Array:
    """(n, n, U) Hermitian -> (n^2, U) real: diagonal, Re and Im of the upper triangle."""
    n = x.shape[0]
    iu, ju = np.triu_indices(n, 1)
    return jnp.concatenate([jnp.real(x[np.arange(n), np.arange(n)]), jnp.real(x[iu, ju]),
                            jnp.imag(x[iu, ju])])


def _hermitian_unpack(p: jax.Array, n: int) -> jax.Array:
    iu, ju = np.triu_indices(n, 1)
    k = len(iu)
    upper = p[n : n + k] + 1j * p[n + k :]
    x = jnp.zeros((n, n) + p.shape[1:], upper.dtype)
    x = x.at[np.arange(n), np.arange(n)].set(p[:n])
    return x.at[iu, ju].set(upper).at[ju, iu].set(jnp.conj(upper))


def _jet_linear(h: RealJet, w: jax.Array, b: jax.Array | None) -> RealJet:
    """h @ w (+ b on the value): one real matrix product for every channel at once.

    The channels are packed by their symmetries first (d_i d_k and the pair (i, k) of t and f
    symmetric; m and f Hermitian), 100 real rows per unit for dim 3 instead of 259.
    """
    d = h.d1.shape[0]
    pi, pk, index = _pairs(d)
    npair = len(pi)
    d2 = h.d2[pi, pk]  # (P, U)
    t = h.t[pi, pk]  # (P, d, U)
    f = h.f[pi, pk][:, pi, pk]  # (P, P, U), Hermitian
    rows = [h.v[None], jnp.real(h.d1), jnp.imag(h.d1), jnp.real(d2), jnp.imag(d2),
            _hermitian_pack(h.m), jnp.real(t).reshape(npair * d, -1),
            jnp.imag(t).reshape(npair * d, -1), _hermitian_pack(f)]
    sizes = [x.shape[0] for x in rows]
    flat = jnp.concatenate(rows) @ w
    parts = np.split(np.arange(sum(sizes)), np.cumsum(sizes)[:-1])
    v, d1r, d1i, d2r, d2i, m, tr, ti, fp = (flat[idx[0] : idx[-1] + 1] for idx in parts)
    v = v[0] + (0 if b is None else b)
    d2 = (d2r + 1j * d2i)[index]  # (d, d, U)
    t = (tr + 1j * ti).reshape(npair, d, -1)[index]  # (d, d, d, U)
    f = _hermitian_unpack(fp, npair)[index][:, :, index]  # (d, d, d, d, U)
    return RealJet(v, d1r + 1j * d1i, d2, _hermitian_unpack(m, d), t, f)


def _derivatives(activation: str, x: jax.Array, order: int = 4) -> list[jax.Array]:
    """[f(x), f'(x), ..., f^(order)(x)] elementwise for an activation of cygen.models."""
    from cygen.models import ACTIVATIONS

    fn = ACTIVATIONS[activation]
    one = jnp.ones_like(x)
    out, g = [fn(x)], fn
    for _ in range(order):
        g = (lambda h: lambda y: jax.jvp(h, (y,), (one,))[1])(g)
        out.append(g(x))
    return out


def invariant_feature_jets(geo: rt.Geometry, jt: implicit.Jets) -> RealJet:
    """Jets of :func:`cygen.models.invariant_features` along s (Z(s) to second order).

    Per factor: Re/Im of Z_a conj(Z_b) / ||Z||^2 (diagonal, then the upper triangle's real
    and imaginary parts), from the holomorphic jets of Z and 1/r by Faa di Bruno.
    """
    out = []
    for o, size in zip(geo.offsets, geo.factor_sizes, strict=True):
        z = jt.zc[o : o + size]
        p = jt.pullback[:, o : o + size]
        q = jt.second[:, :, o : o + size]
        iu, ju = np.triu_indices(size, 1)
        diag = np.arange(size)
        ia = np.concatenate([diag, iu, iu])
        ib = np.concatenate([diag, ju, ju])
        c = np.concatenate([np.ones(size + len(iu)), -1j * np.ones(len(iu))])  # Re, Re, Im
        a = (z[ia], p[:, ia], q[:, :, ia])
        b = (z[ib], p[:, ib], q[:, :, ib])
        num = _holomorphic_products(a, b, jnp.asarray(c))
        r = _jet_sum_units(_holomorphic_products((z, p, q), (z, p, q), jnp.ones(size)))
        rv = r.v
        inv = _jet_compose(r, -1 / rv**2, 2 / rv**3, -6 / rv**4, 24 / rv**5, 1 / rv)
        out.append(_jet_mul(num, inv))
    return _jet_concat(out)


class PhiMetric(NamedTuple):
    """The ``phi`` model of :mod:`cygen.models` (g = g_FS + d dbar MLP(invariant features)) with
    its own jets: :meth:`jet` propagates the bidegree-(2,2) jets of the features through the
    MLP layer by layer (one matrix product per layer for all channels), instead of nesting
    forward-mode AD around the whole model.  ``metric_in`` is the plain metric function."""

    layers: Any  # params["phi"]: [{"w": (m, n), "b": (n,)}, ...]
    activation: str

    def potential_jet(self, geo: rt.Geometry, jt: implicit.Jets) -> RealJet:
        h = invariant_feature_jets(geo, jt)
        for layer in self.layers[:-1]:
            h = _jet_linear(h, layer["w"], layer["b"])
            f0, f1, f2, f3, f4 = _derivatives(self.activation, h.v)
            h = _jet_compose(h, f1, f2, f3, f4, f0)
        return _jet_linear(h, self.layers[-1]["w"], self.layers[-1]["b"])

    def jet(self, geo: rt.Geometry, z: jax.Array, chart) -> MetricJet:
        fs = fs_jet(geo, z, chart)
        phi = self.potential_jet(geo, implicit.jets(geo, z, chart))
        g = phi.m[..., 0]  # d_i dbar_j phi
        dg = jnp.moveaxis(phi.t[..., 0], 1, 0)  # [k, i, j] = d_k d_i dbar_j phi
        ddg = jnp.transpose(phi.f[..., 0], (1, 3, 0, 2))  # [k, l, i, j]
        return MetricJet(fs.g + g, fs.dg + dg, fs.ddg + ddg)


def fast_metric(metric_fn):
    """A metric with its own jets when one is known (a trained ``phi`` run), else as given.

    A run of the ``phi`` model with the Fubini-Study base becomes a :class:`PhiMetric`.  It
    re-implements the model's definition, so a caller should compare it once with the run's
    ``metric_in`` (:func:`cygen.euler.fast` compares g at a few points; :func:`check_jet`
    compares the full jet with autodiff) in case the model has changed.
    """
    config = getattr(metric_fn, "config", None)
    params = getattr(metric_fn, "params", None)
    if not isinstance(config, dict) or not isinstance(params, dict):
        return metric_fn
    model = config.get("model", {})
    if model.get("name") != "phi" or set(model) - {"name", "widths", "activation",
                                                   "init_scale"}:
        return metric_fn
    return PhiMetric(params["phi"], model.get("activation", "gelu"))


def check_jet(fast, reference, geo: rt.Geometry, z: jax.Array, charts: jax.Array,
              rtol: float = 1e-8) -> bool:
    """Whether ``fast.jet`` matches the autodiff jet of ``reference`` at the given points."""
    fn = metric_callable(reference)

    def both(z, chart):
        return fast.jet(geo, z, chart), autodiff_jet(fn, geo, z, chart)

    a, b = jax.jit(jax.vmap(both))(z, charts)
    return all(float(jnp.max(jnp.abs(x - y))) <= rtol * float(jnp.max(jnp.abs(y)))
               for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- curvature


def christoffel(jet: MetricJet) -> jax.Array:
    """Gamma[k, i, p] = g^{p qbar} d_k g_{i qbar} (Chern connection)."""
    return ein("kiq,qp->kip", jet.dg, inverse(jet.g))


def riemann_from_jet(jet: MetricJet) -> jax.Array:
    """R[i, j, k, l] = R_{i jbar k lbar} = -d_k dbar_l g_{i jbar} + Gamma^p_{k i} dbar_l g_{p jbar}.
    """
    gamma = christoffel(jet)
    # dbar_l g_{p jbar} = conj(d_l g_{j pbar})
    term = ein("kip,ljp->ijkl", gamma, jnp.conj(jet.dg))
    return term - jnp.moveaxis(jet.ddg, (0, 1), (2, 3))


def curvature_from_jet(jet: MetricJet) -> Curvature:
    """Every curvature quantity of the module docstring from a :class:`MetricJet`."""
    g = jet.g
    ginv = inverse(g)
    r = riemann_from_jet(jet)
    ricci = ein("ja,ajkl->kl", ginv, r)
    scalar = jnp.real(ein("lk,kl->", ginv, ricci))
    det_g = jnp.real(rt.det(g))
    gg = ein("bj,kl->bjkl", g, g)
    coef = jnp.real(chern_polynomial(gg, r / jnp.pi)) / det_g**2  # k = 0..n
    return Curvature(g, det_g, r, ricci, scalar, coef[1:], coef[-1])


def curvature(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, *,
              embedding: str = "tangent") -> Curvature:
    """All curvature quantities of ``metric_fn`` at ``z`` (see :func:`metric_jet`)."""
    return curvature_from_jet(metric_jet(metric_fn, geo, z, chart, embedding=embedding))


def riemann(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """Chern curvature R_{i jbar k lbar}, shape (dim,)*4."""
    return riemann_from_jet(metric_jet(metric_fn, geo, z, chart, **kw))


def ricci_form(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """Ric_{k lbar} = -d_k dbar_l log det g, shape (dim, dim); c_1 = (i/2pi) Ric du^dubar."""
    return curvature(metric_fn, geo, z, chart, **kw).ricci


def ricci_scalar(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """R = g^{k lbar} Ric_{k lbar} (real); P^n with FS: n (n+1) pi."""
    return curvature(metric_fn, geo, z, chart, **kw).scalar


def chern_densities(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """(dim,) d_k = (c_k ^ omega^(n-k)) / (omega^n/n!), k = 1..n (real)."""
    return curvature(metric_fn, geo, z, chart, **kw).chern


def euler_density(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """e = c_n / (omega^n/n!) = top(R) / (pi^n det(g)^2), so chi = int_X e dvol_g (real)."""
    jet = metric_jet(metric_fn, geo, z, chart, **kw)
    det_g = jnp.real(rt.det(jet.g))
    n = jet.g.shape[-1]
    return jnp.real(top_form(riemann_from_jet(jet))) / (math.pi**n * det_g**2)


def euler_form(metric_fn, geo: rt.Geometry, z: jax.Array, chart=None, **kw) -> jax.Array:
    """c_n / vol_0 = e det g: the top Chern form's coefficient in the chart (real)."""
    jet = metric_jet(metric_fn, geo, z, chart, **kw)
    det_g = jnp.real(rt.det(jet.g))
    n = jet.g.shape[-1]
    return jnp.real(top_form(riemann_from_jet(jet))) / (math.pi**n * det_g)
