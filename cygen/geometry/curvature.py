"""Curvature of any Hermitian metric on X in local holomorphic chart coordinates (single point).

``g[i, j] = g_{i jbar}`` in the chart coordinates u of docs/conventions.md, with
``dg[k, i, j] = d_k g_{i jbar}`` and ``ddg[k, l, i, j] = d_k dbar_l g_{i jbar}``; from them the
Chern connection (:func:`christoffel`), the Chern curvature (:func:`riemann`), the Ricci form
and scalar (cymetric's normalisation) and the Chern forms as densities d_k = c_k ∧ ω^(n−k) /
(ω^n/n!) (:func:`top_form`, ``chern_polynomial``; d_n is the Euler density).
:func:`metric_jet` takes the derivatives: Fubini–Study in closed form, a trained ``phi`` run
through its own jets, any other metric by forward-mode autodiff.  Everything is single-point,
jit/vmap-friendly, and never branches in Python on traced values.  The conventions, the
top-form combinatorics (where factors of n! go wrong) and the derivative routes are in
docs/curvature.md (the site's "Curvature and χ" page).
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import implicit
from cygen.geometry import runtime as rt


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
    """The plain ``(z, chart) -> g`` of a metric object (a run's ``metric_in``)."""
    return getattr(metric_fn, "metric_in", metric_fn)


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
    if callable(getattr(metric_fn, "jet", None)) and embedding == "tangent":
        return metric_fn.jet(geo, z, chart)
    return autodiff_jet(metric_callable(metric_fn), geo, z, chart, embedding)


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
