"""Batched homotopy continuation for square multihomogeneous systems (JAX, complex128).

:func:`solve` finds all ``d`` isolated solutions (``d`` the multihomogeneous Bézout number)
of a batch of square systems ``F_k(lam) = p_k(B lam)`` — a complete intersection restricted
to random linear slices — and returns ``(B, d, N)`` solutions with a per-slice ``ok`` flag:
an ``ok`` slice carries all ``d`` distinct solutions, and failed slices are re-solved whole
(:func:`resolve_failed`, ``retries``), never path by path.  The start system, the random
charts, the gamma trick, the predictor-corrector with step control, the lockstep lanes and
the failure rules are in docs/sampling.md, "Homotopy continuation" (the site's "Sampling
points and weights" page).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from cygen.geometry import runtime as rt

__all__ = [
    "DEFAULT_OPTIONS",
    "Solutions",
    "StartSystem",
    "bezout_number",
    "make_solver",
    "multihomogeneous_start",
    "resolve_failed",
    "solve",
]


# --------------------------------------------------------------------------------------
# Start system (static, numpy)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartSystem:
    """Static description of the m-homogeneous start system and of its solutions.

    Attributes:
        t: projective dimension of every group.
        q: ``q[a][k]`` = degree of equation ``k`` in group ``a``.
        n_paths: number of start solutions ``d`` (the multihomogeneous Bezout number).
        group: ``(d, K)`` int, the group whose linear factor of equation ``k`` vanishes on
            start solution ``p``.
        factor: ``(d, K)`` int, which linear factor (``j < q[group][k]``) vanishes.
        rows: ``(R, 3)`` int, the linear forms ``(a, k, j)`` in a fixed order (sorted by
            equation ``k``); ``R = sum q``.
        vanishing: tuple over groups of ``(d, t_a)`` int arrays, the indices (into ``rows``)
            of the linear forms that vanish at each start solution in group ``a``.
    """

    t: tuple[int, ...]
    q: tuple[tuple[int, ...], ...]
    n_paths: int
    group: np.ndarray
    factor: np.ndarray
    rows: np.ndarray
    vanishing: tuple[np.ndarray, ...]

    @property
    def n_eqs(self) -> int:
        return len(self.q[0]) if self.q else 0

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start of every group in the concatenated coordinate vector (plus the end)."""
        return tuple(int(v) for v in np.concatenate([[0], np.cumsum(np.add(self.t, 1))]))


def _check_tq(t: Sequence[int], q: Sequence[Sequence[int]]) -> tuple[tuple, tuple]:
    t = tuple(int(v) for v in t)
    q = tuple(tuple(int(v) for v in row) for row in q)
    if len(q) != len(t):
        raise ValueError(f"q must have one row per group ({len(t)}), got {len(q)}")
    n_eq = sum(t)
    if any(len(row) != n_eq for row in q):
        raise ValueError(f"every row of q must have K = sum(t) = {n_eq} entries")
    if any(v < 0 for v in t) or any(v < 0 for row in q for v in row):
        raise ValueError("t and q must be non-negative")
    return t, q


def _assignments(t: tuple[int, ...], q: tuple[tuple[int, ...], ...]):
    """Yield maps equation -> group with q[a][k] > 0 and exactly t_a equations per group."""
    n_eq = sum(t)
    counts = [0] * len(t)
    assign = [0] * n_eq

    def rec(k):
        if k == n_eq:
            yield tuple(assign)
            return
        for a in range(len(t)):
            if q[a][k] > 0 and counts[a] < t[a]:
                counts[a] += 1
                assign[k] = a
                yield from rec(k + 1)
                counts[a] -= 1

    yield from rec(0)


def bezout_number(t: Sequence[int], q: Sequence[Sequence[int]]) -> int:
    """Multihomogeneous Bezout number: coeff of prod_a h_a^t_a in prod_k sum_a q_ak h_a."""
    t, q = _check_tq(t, q)
    return sum(math.prod(q[a][k] for k, a in enumerate(assign)) for assign in _assignments(t, q))


def multihomogeneous_start(t: Sequence[int], q: Sequence[Sequence[int]]) -> StartSystem:
    """Enumerate the solutions of the m-homogeneous start system (numpy, trace time)."""
    t, q = _check_tq(t, q)
    n_eq = sum(t)
    rows = [(a, k, j) for k in range(n_eq) for a in range(len(t)) for j in range(q[a][k])]
    row_index = {r: i for i, r in enumerate(rows)}
    group, factor = [], []
    for assign in _assignments(t, q):
        for facs in itertools.product(*[range(q[a][k]) for k, a in enumerate(assign)]):
            group.append(assign)
            factor.append(facs)
    n_paths = len(group)
    group_arr = np.asarray(group, dtype=np.int64).reshape(n_paths, n_eq)
    factor_arr = np.asarray(factor, dtype=np.int64).reshape(n_paths, n_eq)
    vanishing = []
    for a in range(len(t)):
        van = np.zeros((n_paths, t[a]), dtype=np.int64)
        for p in range(n_paths):
            ks = [k for k in range(n_eq) if group_arr[p, k] == a]
            van[p] = [row_index[(a, k, int(factor_arr[p, k]))] for k in ks]
        vanishing.append(van)
    return StartSystem(
        t=t,
        q=q,
        n_paths=n_paths,
        group=group_arr,
        factor=factor_arr,
        rows=np.asarray(rows, dtype=np.int64).reshape(-1, 3),
        vanishing=tuple(vanishing),
    )


# --------------------------------------------------------------------------------------
# Static layout: affine charts and monomial tables (numpy, trace time)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    start: StartSystem
    offs: tuple[int, ...]  # group a occupies x[offs[a]:offs[a+1]]
    koffs: tuple[int, ...]  # its chart coordinates are u[koffs[a]:koffs[a+1]]
    var_group: tuple[int, ...]  # group of every chart coordinate
    qmax: tuple[int, ...]  # per group, max degree over the equations
    terms: tuple[tuple[tuple[int, ...], ...], ...]  # per equation, exponent vectors
    term_index: tuple[tuple[int, ...], ...]  # per equation, flat index into the grid

    @property
    def n_eqs(self) -> int:
        return self.start.n_eqs


def _layout(start: StartSystem) -> _Layout:
    t, q = start.t, start.q
    n_eq = start.n_eqs
    koffs = tuple(int(v) for v in np.concatenate([[0], np.cumsum(t)]))
    var_group = tuple(a for a, ta in enumerate(t) for _ in range(ta))
    qmax = tuple(max(row) if row else 0 for row in q)
    shape = [qmax[g] + 1 for g in var_group]
    terms, index = [], []
    for k in range(n_eq):
        ek, ik = [], []
        for e in itertools.product(*[range(n) for n in shape]):
            if all(sum(e[koffs[a] : koffs[a + 1]]) <= q[a][k] for a in range(len(t))):
                ek.append(tuple(e))
                ik.append(int(np.ravel_multi_index(e, shape)) if shape else 0)
        terms.append(tuple(ek))
        index.append(tuple(ik))
    return _Layout(start, start.offsets, koffs, var_group, qmax, tuple(terms), tuple(index))


# --------------------------------------------------------------------------------------
# Per-slice random data
# --------------------------------------------------------------------------------------


class _Slices(NamedTuple):
    """Random data of the homotopies of a batch of slices (batch axis last where noted)."""

    gamma: jax.Array  # (B,)
    x0: jax.Array  # (B, N) chart origins: |x0^(a)| = 1
    frame: jax.Array  # (B, N, K) orthonormal chart bases, orthogonal to x0 (block diagonal)
    alpha: jax.Array  # (R, B) start linear forms l_r(x0 + V u) = alpha_r + beta_r . u
    beta: jax.Array  # (R, K, B)
    coef: jax.Array  # (M, B) chart monomial coefficients of F (interpolation), or (0, B)
    valid: jax.Array  # (B,) bool: the interpolant reproduces F at a test point


class _View(NamedTuple):
    """Slice data per path (lane); trailing axis = lanes, except params/x0/frame (leading)."""

    gamma: jax.Array  # (L,)
    alpha: jax.Array  # (R, L)
    beta: jax.Array  # (R, K, L)
    coef: jax.Array  # (M, L)
    params: Any  # direct mode only: leaves (L, ...)
    x0: Any  # direct mode only: (L, N)
    frame: Any  # direct mode only: (L, N, K)


def _mix64(z):
    """splitmix64 finaliser (uint64 -> uint64)."""
    z = (z ^ (z >> 30)) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> 27)) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> 31)


def _cgauss(key, shape, stream: int = 0):
    """Standard complex Gaussians (E|z|^2 = 1) from a PRNG key.

    A counter-based splitmix64 generator + Box-Muller: statistically plenty for choosing
    generic start systems, and it compiles in a fraction of the time of threefry.
    """
    kd = jax.random.key_data(key).astype(jnp.uint64).reshape(-1)
    offset = np.uint64((0x9E3779B97F4A7C15 * (stream + 1)) % 2**64)
    seed = _mix64((kd[0] << 32) + kd[-1] + offset)
    n = math.prod(shape)
    ctr = seed + (jnp.arange(2 * n, dtype=jnp.uint64) + 1) * np.uint64(0x9E3779B97F4A7C15)
    bits = _mix64(ctr).reshape(2, n)
    unif = ((bits >> 11).astype(jnp.float64) + 0.5) * 2.0**-53  # in (0, 1)
    r = jnp.sqrt(-jnp.log(unif[0]))
    z = r * jnp.exp(2j * np.pi * unif[1])
    return z.reshape(shape)


def _make_slices(key, system, params, lay: _Layout, interpolate: bool, stream=0) -> _Slices:
    start = lay.start
    offs, koffs = lay.offs, lay.koffs
    bsz = jax.tree_util.tree_leaves(params)[0].shape[0]
    n, n_eq, n_rows = offs[-1], lay.n_eqs, len(start.rows)
    z = _cgauss(key, (bsz, 1 + n_rows * n + n), stream)
    gamma = z[:, 0] / jnp.abs(z[:, 0])
    ell = z[:, 1 : 1 + n_rows * n].reshape(bsz, n_rows, n)
    hv = z[:, 1 + n_rows * n :]  # Householder vectors: frame_a = I - 2 v v^H / |v|^2
    x0 = jnp.zeros((bsz, n), jnp.complex128)
    frame = jnp.zeros((bsz, n, n_eq), jnp.complex128)
    for a, ta in enumerate(start.t):
        v = hv[:, offs[a] : offs[a + 1]]
        uni = (
            jnp.eye(ta + 1)
            - 2.0
            * v[:, :, None]
            * jnp.conj(v[:, None, :])
            / jnp.sum(jnp.abs(v) ** 2, -1)[:, None, None]
        )
        x0 = x0.at[:, offs[a] : offs[a + 1]].set(uni[:, :, 0])
        frame = frame.at[:, offs[a] : offs[a + 1], koffs[a] : koffs[a + 1]].set(uni[:, :, 1:])
    row_mask = np.zeros((n_rows, n))
    for r, (a, _, _) in enumerate(start.rows):
        row_mask[r, offs[a] : offs[a + 1]] = 1.0
    ell = ell * row_mask
    alpha = jnp.einsum("brn,bn->rb", ell, x0)
    beta = jnp.einsum("brn,bnk->rkb", ell, frame)
    # every affine form scaled to unit coefficient norm
    norm = jnp.sqrt(jnp.abs(alpha) ** 2 + jnp.sum(jnp.abs(beta) ** 2, axis=1))
    alpha, beta = alpha / norm, beta / norm[:, None, :]
    coef, valid = jnp.zeros((0, bsz), jnp.complex128), jnp.ones((bsz,), bool)
    if interpolate:
        coef, valid = _interpolate(system, params, x0, frame, lay)
    return _Slices(gamma, x0, frame, alpha, beta, coef, valid)


def _interpolate(system, params, x0, frame, lay: _Layout):
    """Monomial coefficients of u -> F(x0 + V u) by a DFT on a grid of roots of unity.

    Every equation is divided by the norm of its coefficient vector (balances F against
    the start system G; the solutions do not change).  Returns ``(coef (M, B), valid
    (B,))``; ``valid`` is False where the interpolant misses F at an off-grid test point
    (degrees larger than declared in ``q``, or F not polynomial).
    """
    shape = [lay.qmax[g] + 1 for g in lay.var_group]
    grid = np.array(list(itertools.product(*[range(m) for m in shape])), dtype=float)
    roots = np.exp(2j * np.pi * grid.reshape(-1, lay.n_eqs) / np.array(shape, dtype=float))
    xg = x0[:, None, :] + jnp.einsum("bnk,gk->bgn", frame, roots)
    vals = jax.vmap(jax.vmap(system, (0, None)))(xg, params)  # (B, G, K)
    vals = vals.reshape((vals.shape[0], *shape, lay.n_eqs))
    coefs = jnp.fft.fftn(vals, axes=tuple(range(1, 1 + len(shape)))) / max(1, math.prod(shape))
    coefs = coefs.reshape(coefs.shape[0], -1, lay.n_eqs)
    parts, norms = [], []
    for k, idx in enumerate(lay.term_index):
        c = coefs[:, np.asarray(idx, dtype=np.int64), k]
        norms.append(jnp.sqrt(jnp.sum(jnp.abs(c) ** 2, -1)))
        parts.append(c / norms[-1][:, None])
    coef = jnp.concatenate(parts, axis=1).T  # (M, B)
    # test point on the unit torus, off the grid: |monomials| = 1
    bsz = coef.shape[1]
    u_test = np.exp(2j * np.pi * np.sqrt(np.arange(2, 2 + lay.n_eqs)))
    exact = jax.vmap(system)(x0 + frame @ u_test, params)  # (B, K)
    view = _View(None, None, None, coef, None, None, None)
    approx, _ = _eval_dense([jnp.full((bsz,), v) for v in u_test], view, lay)
    valid = jnp.ones((bsz,), bool)
    for k, terms in enumerate(lay.terms):
        miss = jnp.abs(approx[k] - exact[:, k] / norms[k])
        valid = valid & (miss <= 1e-8 * math.sqrt(len(terms)))
    return coef, valid


def _start_points(sl: _Slices, lay: _Layout) -> tuple[jax.Array, ...]:
    """Start solutions in chart coordinates: K arrays of shape (B * d,), path p = b * d + j."""
    start = lay.start
    u = []
    for a, ta in enumerate(start.t):
        van = start.vanishing[a]  # (d, ta)
        k0 = lay.koffs[a]
        mat = [[sl.beta[van[:, i], k0 + j].T for j in range(ta)] for i in range(ta)]
        rhs = [[-sl.alpha[van[:, i]].T for i in range(ta)]]
        if ta:
            u.extend(v.reshape(-1) for v in _solve_small(mat, rhs)[0])  # (B, d) -> (P,)
    return tuple(u)


# --------------------------------------------------------------------------------------
# Evaluation on structure-of-arrays data: lists of per-lane arrays, one per component
# --------------------------------------------------------------------------------------


def _prod(xs):
    out = None
    for v in xs:
        out = v if out is None else out * v
    return out


def _add(acc, v):
    return v if acc is None else acc + v


def _eval_dense(u, sl: _View, lay: _Layout):
    """F and dF/du from the interpolated chart coefficients."""
    n_eq = lay.n_eqs
    zero = u[0] * 0.0
    pw = {}
    for i in range(n_eq):
        pw[i, 1] = u[i]
        for e in range(2, lay.qmax[lay.var_group[i]] + 1):
            pw[i, e] = pw[i, e - 1] * u[i]
    f_out, j_out = [], []
    m = 0
    for k in range(n_eq):
        f, df = None, [None] * n_eq
        for e in lay.terms[k]:
            c = sl.coef[m]
            m += 1
            nz = [i for i in range(n_eq) if e[i] > 0]
            f = _add(f, _prod([c] + [pw[i, e[i]] for i in nz]))
            for i in nz:
                fac = [c * e[i]] + [pw[i, e[i] - 1]] if e[i] > 1 else [c]
                df[i] = _add(df[i], _prod(fac + [pw[j, e[j]] for j in nz if j != i]))
        f_out.append(zero + f)
        j_out.append([zero if v is None else zero + v for v in df])
    return f_out, j_out


def _eval_start(u, sl: _View, lay: _Layout):
    """G and dG/du of the start system (products of affine forms in the chart)."""
    rows = lay.start.rows
    n_eq = lay.n_eqs
    zero = u[0] * 0.0
    g_out, j_out = [], []
    for k in range(n_eq):
        rs = [r for r in range(len(rows)) if rows[r, 1] == k]
        vs, grads = [], []
        for r in rs:
            a = int(rows[r, 0])
            idx = range(lay.koffs[a], lay.koffs[a + 1])
            lin = [sl.beta[r, i] * u[i] for i in idx]
            vs.append(sl.alpha[r] + sum(lin) if lin else zero + sl.alpha[r])
            grads.append({i: sl.beta[r, i] for i in idx})
        pre = [None] * (len(vs) + 1)
        suf = [None] * (len(vs) + 1)
        for i in range(len(vs)):
            pre[i + 1] = vs[i] if pre[i] is None else pre[i] * vs[i]
            j = len(vs) - 1 - i
            suf[j] = vs[j] if suf[j + 1] is None else vs[j] * suf[j + 1]
        dg = [None] * n_eq
        for r in range(len(vs)):
            others = _prod([p for p in (pre[r], suf[r + 1]) if p is not None])
            for i, b in grads[r].items():
                dg[i] = _add(dg[i], b if others is None else b * others)
        g_out.append(zero + pre[-1])
        j_out.append([zero if v is None else zero + v for v in dg])
    return g_out, j_out


def _eval_direct(u, sl: _View, system, jac):
    """F and dF/du by evaluating the user system (jacfwd) at every point."""

    def one(u, p, x0, frame):
        x = x0 + frame @ u
        if jac is None:
            jf, f = jax.jacfwd(lambda v: (system(v, p),) * 2, holomorphic=True, has_aux=True)(x)
        else:
            f, jf = system(x, p), jac(x, p)
        return f, jf @ frame

    n_eq = len(u)
    shape = u[0].shape
    flat = jnp.stack(u).reshape(n_eq, -1)
    params, x0, frame = jax.tree_util.tree_map(
        lambda v: v.reshape((flat.shape[1],) + v.shape[len(shape) :]), (sl.params, sl.x0, sl.frame)
    )
    f, jf = jax.vmap(one, (1, 0, 0, 0), (1, 2))(flat, params, x0, frame)
    f = f.reshape((n_eq,) + shape)
    jf = jf.reshape((n_eq, n_eq) + shape)
    return [f[k] for k in range(n_eq)], [[jf[k, i] for i in range(n_eq)] for k in range(n_eq)]


def _materialize(tree):
    """Identity that makes XLA compute ``tree`` once and store it.

    XLA:CPU fuses cheap elementwise producers into *every* consumer, so a value shared by
    several outputs is recomputed once per output; ``optimization_barrier`` does not stop
    this on CPU, a conditional does.
    """
    leaves = jax.tree_util.tree_leaves(tree)
    first = leaves[0].reshape(-1)[0]
    return lax.cond(
        first == first,
        lambda t: t,
        lambda t: jax.tree_util.tree_map(lambda v: v * 1.0, t),
        tree,
    )


def _solve_small(mat, rhs):
    """Solve ``mat @ X = rhs`` for SoA lists; closed form (Cramer) for K <= 3."""
    n = len(mat)
    if n == 1:
        inv = 1.0 / mat[0][0]
        return [[col[0] * inv] for col in rhs]
    if n == 2:
        (a, b), (c, d) = mat
        inv = 1.0 / (a * d - b * c)
        return [[(d * x - b * y) * inv, (a * y - c * x) * inv] for x, y in rhs]
    if n == 3:
        a = mat
        cof = [
            [
                a[(i + 1) % 3][(j + 1) % 3] * a[(i + 2) % 3][(j + 2) % 3]
                - a[(i + 1) % 3][(j + 2) % 3] * a[(i + 2) % 3][(j + 1) % 3]
                for j in range(3)
            ]
            for i in range(3)
        ]
        inv = 1.0 / (a[0][0] * cof[0][0] + a[0][1] * cof[0][1] + a[0][2] * cof[0][2])
        cof, inv = _materialize((cof, inv))
        return [
            [(cof[0][i] * x + cof[1][i] * y + cof[2][i] * z) * inv for i in range(3)]
            for x, y, z in rhs
        ]
    big = jnp.moveaxis(jnp.stack([jnp.stack(row) for row in mat]), (0, 1), (-2, -1))
    b = jnp.moveaxis(jnp.stack([jnp.stack(col) for col in rhs]), (0, 1), (-1, -2))
    sol = rt.solve_batched(big, b)  # (..., n, r); no LAPACK custom call
    return [[sol[..., i, r] for i in range(n)] for r in range(len(rhs))]


# --------------------------------------------------------------------------------------
# Path tracking
# --------------------------------------------------------------------------------------


class Solutions(NamedTuple):
    """Result of :func:`solve` (a pytree; every field has leading batch axis ``B``).

    Attributes:
        x: ``(B, d, N)`` solutions, each group scaled so its largest-modulus coordinate is 1.
        success: ``(B, d)`` bool, the path reached ``s = 1`` and the final Newton converged.
        ok: ``(B,)`` bool, all ``d`` paths succeeded and the endpoints are pairwise distinct.
        steps: ``(B, d)`` int32, predictor-corrector steps of the path (last attempt).
        newton_err: ``(B, d)`` float, last relative Newton correction at ``s = 1``.
    """

    x: jax.Array
    success: jax.Array
    ok: jax.Array
    steps: jax.Array
    newton_err: jax.Array


# lane status codes
_ACTIVE, _DONE, _FAILED, _IDLE = 0, 1, 2, 3


class _Lanes(NamedTuple):
    """Tracker lanes (one path each); per-lane arrays have shape (L,)."""

    u: tuple  # K complex arrays: chart coordinates of the current point on the path
    tan: tuple  # K complex arrays: du/ds there
    y: tuple  # K complex arrays: point of the next evaluation
    acc: tuple  # K complex arrays: RK4 accumulator k1 + 2 k2 + 2 k3 + k4
    s: jax.Array  # homotopy parameter of u
    h: jax.Array  # step size proposal
    hc: jax.Array  # step size of the current step
    err: jax.Array  # squared relative predictor error (first Newton correction)
    status: jax.Array  # int8 _ACTIVE/_DONE/_FAILED/_IDLE
    fresh: jax.Array  # bool: newly loaded, the first (zero-length) step computes the tangent
    steps: jax.Array  # int32 predictor-corrector steps
    pid: jax.Array  # int32 path index (P when idle)
    view: _View


class _Carry(NamedTuple):
    lanes: _Lanes
    next: jax.Array  # () int32 next path of the queue to load
    out_u: tuple  # K complex arrays (P,)
    out_status: jax.Array  # (P,) int8
    out_steps: jax.Array  # (P,) int32
    phase: jax.Array  # () int32 micro-step: 0-2 RK4 stages, 3-4 Newton corrections


def _abs2(z):
    return z.real * z.real + z.imag * z.imag


def _rel_err2(du, u, lay: _Layout):
    """max over groups of |du^(a)|^2 / (1 + |u^(a)|^2) (= relative error in x, squared)."""
    out = None
    for a in range(len(lay.start.t)):
        idx = range(lay.koffs[a], lay.koffs[a + 1])
        if not idx:
            continue
        r = sum(_abs2(du[i]) for i in idx) / (1.0 + sum(_abs2(u[i]) for i in idx))
        out = r if out is None else jnp.maximum(out, r)
    return out


def _take_lanes(ln: _Lanes, idx) -> _Lanes:
    """Select lanes ``idx`` (views: lane axis last, except params/x0/frame: first)."""

    def last(v):
        return v[..., idx]

    def first(v):
        return v[idx]

    v = ln.view
    view = _View(
        *jax.tree_util.tree_map(last, (v.gamma, v.alpha, v.beta, v.coef)),
        *jax.tree_util.tree_map(first, (v.params, v.x0, v.frame)),
    )
    return jax.tree_util.tree_map(last, ln._replace(view=None))._replace(view=view)


class _Tracker:
    """The lockstep path tracker: ``run(carry, stop) -> carry`` and ``init(n_lanes)``.

    Every loop iteration performs one homotopy evaluation + linear solve for all lanes (a
    *micro-step*); five make an RK4 predictor / 2-Newton corrector step, so the loop body
    holds a single copy of the homotopy.  At step boundaries finished lanes write their
    path to the output and are refilled from the queue of start points.  The loop stops
    at a step boundary when the queue is empty and at most ``stop`` lanes are active.
    """

    S_FRAC = (0.5, 0.5, 1.0, 1.0, 1.0)  # fraction of the step at each micro-step's evaluation

    def __init__(self, system, jac, params, sl: _Slices, lay: _Layout, d: int, opts: dict):
        self.system, self.jac, self.params, self.sl, self.lay = system, jac, params, sl, lay
        self.d, self.opts = d, opts
        self.n_eq = lay.n_eqs
        self.tol2 = opts["tol"] ** 2
        self.kappa2 = opts["contraction"] ** 2
        self.direct = not opts["interpolate"]
        self.u0 = _start_points(sl, lay)
        self.n_paths = self.u0[0].shape[0]
        self.branches = [self.stage0, self.stage1, self.stage2, self.newton1, self.newton2]

    # ------------------------------------------------------------------ one micro-step

    def hom(self, v: _View, y, s):
        """Newton correction and tangent du/ds at (y, s)."""
        n_eq = self.n_eq
        if self.direct:
            f, jf = _eval_direct(y, v, self.system, self.jac)
        else:
            f, jf = _eval_dense(y, v, self.lay)
        g, jg = _eval_start(y, v, self.lay)
        # materialise shared values once: XLA would otherwise re-fuse (recompute) the whole
        # evaluation into the fusion of every one of the 2K output components
        f, jf, g, jg = _materialize((f, jf, g, jg))
        wg = v.gamma * (1.0 - s)
        jm = [[wg * jg[k][i] + jf[k][i] * s for i in range(n_eq)] for k in range(n_eq)]
        rhs_newton = [-(wg * g[k] + f[k] * s) for k in range(n_eq)]
        rhs_tangent = [v.gamma * g[k] - f[k] for k in range(n_eq)]
        return _solve_small(jm, [rhs_newton, rhs_tangent])

    @staticmethod
    def axpy(a, xs, ys):
        return tuple(y + x * a for x, y in zip(xs, ys, strict=True))

    def begin_step(self, ln: _Lanes) -> _Lanes:
        hc = jnp.where(ln.fresh, 0.0, jnp.minimum(ln.h, 1.0 - ln.s))
        return ln._replace(hc=hc, y=self.axpy(0.5 * hc, ln.tan, ln.u), acc=ln.tan)

    def no_output(self, ln: _Lanes):
        no_load = jnp.zeros(ln.pid.shape, bool)
        return (jnp.full(ln.pid.shape, self.n_paths, jnp.int32), ln.u, ln.status, ln.steps,
                no_load)

    def stage0(self, ln, nxt, newt, tang):  # tang = k2
        ln = ln._replace(acc=self.axpy(2.0, tang, ln.acc), y=self.axpy(0.5 * ln.hc, tang, ln.u))
        return ln, nxt, self.no_output(ln)

    def stage1(self, ln, nxt, newt, tang):  # tang = k3
        ln = ln._replace(acc=self.axpy(2.0, tang, ln.acc), y=self.axpy(ln.hc, tang, ln.u))
        return ln, nxt, self.no_output(ln)

    def stage2(self, ln, nxt, newt, tang):  # tang = k4; y = RK4 prediction
        acc = self.axpy(1.0, tang, ln.acc)
        ln = ln._replace(acc=acc, y=self.axpy(ln.hc / 6.0, acc, ln.u))
        return ln, nxt, self.no_output(ln)

    def newton1(self, ln, nxt, newt, tang):
        ln = ln._replace(err=_rel_err2(newt, ln.y, self.lay), y=self.axpy(1.0, newt, ln.y))
        return ln, nxt, self.no_output(ln)

    def newton2(self, ln, nxt, newt, tang):
        """Accept or reject the step, adapt h, then retire finished paths and refill lanes."""
        ln = self.accept(ln, newt, tang)
        retire = (ln.status == _DONE) | (ln.status == _FAILED)
        free = ln.status != _ACTIVE
        new_pid = nxt + jnp.cumsum(free.astype(jnp.int32)) - 1
        load = free & (new_pid < self.n_paths)
        out = (jnp.where(retire, ln.pid, self.n_paths), ln.u, ln.status, ln.steps, load)
        nxt = nxt + jnp.sum(load).astype(jnp.int32)
        ln = self.load_lanes(ln, load, jnp.minimum(new_pid, self.n_paths - 1), free)
        return self.begin_step(ln), nxt, out

    def accept(self, ln: _Lanes, newt, tang) -> _Lanes:
        """The second Newton correction decides the step: accepted lanes move to s + h."""
        opts = self.opts
        active = ln.status == _ACTIVE
        u2 = self.axpy(1.0, newt, ln.y)
        n2 = _rel_err2(newt, ln.y, self.lay)
        err = ln.err
        finite = jnp.isfinite(err) & jnp.isfinite(n2)
        for v in u2 + tuple(tang):
            finite = finite & jnp.isfinite(v.real) & jnp.isfinite(v.imag)
        good = finite & (err <= self.tol2) & ((n2 <= self.kappa2 * err) | (n2 <= 1e-26))
        acc = active & good
        ratio = 0.8 * (self.tol2 / jnp.maximum(err, 1e-300)) ** 0.1
        h_acc = jnp.maximum(ln.hc * jnp.clip(ratio, 1.0, opts["max_growth"]), ln.h)
        h_rej = ln.hc * jnp.where(finite, jnp.clip(ratio, 0.1, 0.5), 0.25)
        h = jnp.where(acc, h_acc, jnp.where(active, h_rej, ln.h))
        s1 = jnp.where(ln.hc >= 1.0 - ln.s, 1.0, ln.s + ln.hc)
        steps = ln.steps + active.astype(jnp.int32)
        status = jnp.where(acc & (s1 >= 1.0), _DONE, ln.status)
        fail = active & ~acc & ((h < opts["h_min"]) | (steps >= opts["max_steps"]))
        status = jnp.where(fail, _FAILED, status).astype(jnp.int8)
        return ln._replace(
            u=tuple(jnp.where(acc, a, b) for a, b in zip(u2, ln.u, strict=True)),
            tan=tuple(jnp.where(acc, a, b) for a, b in zip(tang, ln.tan, strict=True)),
            s=jnp.where(acc, s1, ln.s),
            h=h,
            status=status,
            fresh=ln.fresh & ~acc,
            steps=steps,
        )

    # ------------------------------------------------------------------ loading lanes

    def load_view(self, v: _View, load, pid) -> _View:
        sl = self.sl
        b = pid // self.d
        if self.direct:

            def pick(new, old):
                m = load.reshape(load.shape + (1,) * (old.ndim - 1))
                return jnp.where(m, new[b], old)

            p, x0, fr = jax.tree_util.tree_map(
                pick, (self.params, sl.x0, sl.frame), (v.params, v.x0, v.frame)
            )
        else:
            p, x0, fr = v.params, v.x0, v.frame
        return _View(
            *(
                jnp.where(load, new[..., b], old)
                for new, old in zip((sl.gamma, sl.alpha, sl.beta, sl.coef), v[:4], strict=True)
            ),
            p,
            x0,
            fr,
        )

    def load_lanes(self, ln: _Lanes, load, pid, free) -> _Lanes:
        zero = ln.u[0] * 0.0
        n_paths = self.n_paths
        return ln._replace(
            u=tuple(jnp.where(load, a[..., pid], c) for a, c in zip(self.u0, ln.u, strict=True)),
            tan=tuple(jnp.where(load, zero, c) for c in ln.tan),
            s=jnp.where(load, 0.0, ln.s),
            h=jnp.where(load, self.opts["h0"], ln.h),
            status=jnp.where(load, _ACTIVE, jnp.where(free, _IDLE, ln.status)).astype(jnp.int8),
            fresh=load | ln.fresh,
            steps=jnp.where(load, 0, ln.steps),
            pid=jnp.where(load, pid, jnp.where(free, n_paths, ln.pid)),
        )

    # ------------------------------------------------------------------ the loop

    def body(self, c: _Carry) -> _Carry:
        ln = c.lanes
        frac = jnp.asarray(self.S_FRAC)[c.phase]
        sig = jnp.where((frac == 1.0) & (ln.hc >= 1.0 - ln.s), 1.0, ln.s + frac * ln.hc)
        newt, tang = self.hom(ln.view, ln.y, sig)
        # the (large) per-lane slice data stays out of the switch: XLA copies everything
        # that passes through a conditional
        ln, nxt, (idx, u, status, steps, load) = lax.switch(
            c.phase, self.branches, ln._replace(view=None), c.next, newt, tang
        )
        view = lax.cond(
            c.phase == 4, lambda v: self.load_view(v, load, ln.pid), lambda v: v, c.lanes.view
        )
        return _Carry(
            lanes=ln._replace(view=view),
            next=nxt,
            out_u=tuple(o.at[idx].set(v, mode="drop") for o, v in zip(c.out_u, u, strict=True)),
            out_status=c.out_status.at[idx].set(status, mode="drop"),
            out_steps=c.out_steps.at[idx].set(steps, mode="drop"),
            phase=jnp.where(c.phase >= 4, 0, c.phase + 1).astype(jnp.int32),
        )

    def run(self, c: _Carry, stop: int) -> _Carry:
        n_paths = self.n_paths

        def cond(c: _Carry):
            busy = (c.next < n_paths) | (jnp.sum(c.lanes.status == _ACTIVE) > stop)
            return (c.phase != 0) | busy

        return lax.while_loop(cond, self.body, c)

    def init(self, n_lanes: int) -> _Carry:
        """All lanes idle, phase 4: the first iteration loads the first paths."""
        sl, n_paths, n_eq = self.sl, self.n_paths, self.n_eq
        zr = jnp.zeros((n_lanes,))
        lane0 = jnp.zeros((n_lanes,), jnp.int32)
        if self.direct:
            pv, x0, fr = jax.tree_util.tree_map(lambda v: v[lane0],
                                                (self.params, sl.x0, sl.frame))
        else:
            pv = x0 = fr = None
        view = _View(sl.gamma[..., lane0], sl.alpha[..., lane0], sl.beta[..., lane0],
                     sl.coef[..., lane0], pv, x0, fr)
        ks = (jnp.zeros((n_lanes,), jnp.complex128),) * n_eq
        ln = _Lanes(
            u=ks, tan=ks, y=ks, acc=ks, s=zr, h=zr, hc=zr, err=zr,
            status=jnp.full((n_lanes,), _IDLE, jnp.int8),
            fresh=jnp.zeros((n_lanes,), bool),
            steps=jnp.zeros((n_lanes,), jnp.int32),
            pid=jnp.full((n_lanes,), n_paths, jnp.int32),
            view=view,
        )  # fmt: skip
        return _Carry(
            lanes=ln,
            next=jnp.zeros((), jnp.int32),
            out_u=(jnp.zeros((n_paths,), jnp.complex128),) * n_eq,
            out_status=jnp.full((n_paths,), _FAILED, jnp.int8),
            out_steps=jnp.zeros((n_paths,), jnp.int32),
            phase=jnp.asarray(4, jnp.int32),
        )


def _track(system, jac, params, sl: _Slices, lay: _Layout, opts: dict) -> Solutions:
    """Track all paths of all slices (lanes with refill, then tail compaction)."""
    start = lay.start
    d, bsz = start.n_paths, sl.gamma.shape[0]
    tracker = _Tracker(system, jac, params, sl, lay, d, opts)
    run, init, n_paths = tracker.run, tracker.init, tracker.n_paths
    sizes = [min(n_paths, opts["lanes"])]
    while len(sizes) < opts["levels"] and sizes[-1] // opts["compaction"] >= opts["min_level"]:
        sizes.append(-(-sizes[-1] // opts["compaction"]))
    c = init(sizes[0])
    for lev, size in enumerate(sizes):
        if lev:
            idx = jnp.argsort(c.lanes.status != _ACTIVE, stable=True)[:size]  # active first
            c = c._replace(lanes=_take_lanes(c.lanes, idx))
        c = run(c, sizes[lev + 1] if lev + 1 < len(sizes) else 0)
    u = jnp.stack(c.out_u, -1).reshape(bsz, d, lay.n_eqs)
    status = c.out_status.reshape(bsz, d)
    steps = c.out_steps.reshape(bsz, d)
    return _finish(system, jac, params, sl, lay, u, status, steps, opts)


def _finish(system, jac, params, sl: _Slices, lay: _Layout, u, status, steps, opts):
    """Newton polish on the exact target system, normalisation, failure flags."""

    def residual(u, p, x0, frame):
        x = x0 + frame @ u
        if jac is None:
            jf, f = jax.jacfwd(lambda v: (system(v, p),) * 2, holomorphic=True, has_aux=True)(x)
        else:
            f, jf = system(x, p), jac(x, p)
        return f, jf @ frame

    ev = jax.vmap(jax.vmap(residual, (0, None, None, None)), (0, 0, 0, 0))
    n_eq = lay.n_eqs
    du = [jnp.zeros(u.shape[:2], u.dtype)] * n_eq
    for _ in range(opts["polish_iters"]):
        f, jf = ev(u, params, sl.x0, sl.frame)
        mat = [[jf[..., k, i] for i in range(n_eq)] for k in range(n_eq)]
        (du,) = _solve_small(mat, [[-f[..., k] for k in range(n_eq)]])
        u = u + jnp.stack(du, -1)
    nerr = jnp.sqrt(_rel_err2(du, [u[..., i] for i in range(n_eq)], lay))
    x = sl.x0[:, None, :] + jnp.einsum("bnk,bdk->bdn", sl.frame, u)
    finite = jnp.all(jnp.isfinite(x.real) & jnp.isfinite(x.imag), -1) & jnp.isfinite(nerr)
    success = (status == _DONE) & finite & (nerr <= opts["final_tol"]) & sl.valid[:, None]
    x = _normalise(x, lay.offs)
    ok = jnp.all(success, -1) & _pairwise_distinct(x, lay.offs, opts["dup_tol"])
    return Solutions(
        x=x,
        success=success,
        ok=ok,
        steps=steps,
        newton_err=jnp.where(finite, nerr, jnp.inf),
    )


def _normalise(x, offs):
    parts = []
    for a in range(len(offs) - 1):
        xa = x[..., offs[a] : offs[a + 1]]
        i = jnp.argmax(jnp.abs(xa), axis=-1)[..., None]
        scaled = xa / jnp.take_along_axis(xa, i, axis=-1)
        parts.append(jnp.where(jnp.arange(xa.shape[-1]) == i, 1.0, scaled))  # exact 1
    return jnp.concatenate(parts, -1)


def _pairwise_distinct(x, offs, dup_tol):
    """(B,) True when the d points of each slice are pairwise distinct projectively."""
    d = x.shape[1]
    if d < 2:
        return jnp.ones(x.shape[:1], bool)
    dist = None
    for a in range(len(offs) - 1):
        xa = x[..., offs[a] : offs[a + 1]]
        u = xa / jnp.linalg.norm(xa, axis=-1, keepdims=True)
        ip = jnp.einsum("bin,bjn->bij", u, jnp.conj(u))
        ph = ip / jnp.maximum(jnp.abs(ip), 1e-300)
        diff = u[:, :, None, :] - ph[..., None] * u[:, None, :, :]  # |u_i - phase u_j|
        da = jnp.linalg.norm(diff, axis=-1)
        dist = da if dist is None else jnp.maximum(dist, da)
    dist = dist + jnp.eye(d) * 1e300
    return jnp.all(dist > dup_tol, axis=(-2, -1))


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

DEFAULT_OPTIONS = dict(
    interpolate=True,  # track the interpolated chart polynomial (else call system each step)
    tol=3e-3,  # accepted relative RK4 error per step (first Newton correction)
    contraction=0.1,  # required Newton contraction |dx2| / |dx1|
    h0=0.05,  # initial step in s
    h_min=1e-10,  # smaller steps => path failed
    max_growth=3.0,  # max step growth factor per accepted step
    max_steps=400,  # predictor-corrector steps per path (accepted + rejected)
    lanes=4096,  # paths tracked simultaneously (refilled from the queue of start points)
    levels=3,  # 1 + number of tail compactions (separately compiled loop copies)
    compaction=8,  # lane-count reduction factor per tail compaction
    min_level=64,  # no compaction below this many lanes
    polish_iters=3,  # Newton iterations with the exact system at s = 1
    final_tol=1e-10,  # max relative last Newton correction for success
    dup_tol=1e-7,  # endpoints closer than this (projective distance) are duplicates
)


def _prepare(t, q, params, options):
    if not jax.config.jax_enable_x64:
        raise RuntimeError("cygen.homotopy needs complex128: enable jax_enable_x64")
    unknown = set(options) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown options: {sorted(unknown)}")
    start = multihomogeneous_start(t, q)
    if start.n_eqs == 0:
        raise ValueError("need at least one equation (sum(t) > 0)")
    if start.n_paths == 0:
        raise ValueError(f"the system with t={t}, q={q} has no isolated solutions")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array with a leading batch axis")
    return _layout(start), {**DEFAULT_OPTIONS, **options}, leaves[0].shape[0]


def solve(
    system: Callable[[jax.Array, Any], jax.Array],
    t: Sequence[int],
    q: Sequence[Sequence[int]],
    params: Any,
    key: jax.Array,
    *,
    jac: Callable[[jax.Array, Any], jax.Array] | None = None,
    retries: int = 0,
    retry_fraction: float = 0.125,
    **options: Any,
) -> Solutions:
    """Find all isolated solutions of a batch of square multihomogeneous systems.

    Args:
        system: ``system(x, p) -> (K,)`` complex equations for one slice, ``x`` the
            concatenated homogeneous coordinates ``(N,)``, ``p`` one slice's params.
            Equation ``k`` must be a polynomial of degree ``<= q[a][k]`` in group ``a``
            (homogeneous of exactly that degree for the path count to be the Bezout number).
        t: projective dimension of every variable group (``K = sum(t)``).
        q: ``q[a][k]`` = degree of equation ``k`` in group ``a``.
        params: pytree, every leaf with leading batch axis ``B``.
        key: PRNG key (start systems, charts and gamma are drawn from it).
        jac: optional ``jac(x, p) -> (K, N)``; default ``jax.jacfwd(holomorphic=True)``.
            Used for the final polish (and for tracking when ``interpolate=False``).
        retries: rounds of :func:`resolve_failed` applied to the result.
        retry_fraction: at most ``ceil(retry_fraction * B)`` slices are re-solved per round.
        **options: overrides of ``DEFAULT_OPTIONS``, see there.

    Returns:
        :class:`Solutions` with ``x`` of shape ``(B, d, N)``.  Jit-compatible (all options
        are static); deterministic for a fixed key.
    """
    lay, opts, bsz = _prepare(t, q, params, options)
    res = _attempt(system, jac, params, key, lay, opts)
    m = min(bsz, max(1, math.ceil(retry_fraction * bsz)))
    for r in range(retries):
        res = _retry(system, jac, params, res, key, m, lay, opts, stream=r + 1)
    return res


def resolve_failed(
    system: Callable[[jax.Array, Any], jax.Array],
    t: Sequence[int],
    q: Sequence[Sequence[int]],
    params: Any,
    result: Solutions,
    key: jax.Array,
    *,
    max_slices: int,
    jac: Callable[[jax.Array, Any], jax.Array] | None = None,
    **options: Any,
) -> Solutions:
    """Re-solve up to ``max_slices`` slices with ``result.ok == False`` from scratch.

    Whole slices are re-solved with new random start systems, charts and gamma (re-running
    only the failed paths would not be correct: which start point leads to which solution
    depends on gamma).  Slices whose new solve is ok replace the old entries.
    """
    lay, opts, bsz = _prepare(t, q, params, options)
    return _retry(system, jac, params, result, key, min(bsz, max_slices), lay, opts)


def _attempt(system, jac, params, key, lay: _Layout, opts, stream: int = 0) -> Solutions:
    sl = _make_slices(key, system, params, lay, opts["interpolate"], stream)
    return _track(system, jac, params, sl, lay, opts)


def _retry(system, jac, params, res: Solutions, key, m: int, lay, opts, stream=1) -> Solutions:
    order = jnp.argsort(res.ok.astype(jnp.int32), stable=True)[:m]  # failed slices first

    def run(_):
        sub_params = jax.tree_util.tree_map(lambda p: p[order], params)
        sub = _attempt(system, jac, sub_params, key, lay, opts, stream)
        take = ~res.ok[order] & sub.ok
        out = []
        for old, new in zip(res, sub, strict=True):
            sel = take.reshape(take.shape + (1,) * (new.ndim - 1))
            out.append(old.at[order].set(jnp.where(sel, new, old[order])))
        return Solutions(*out)

    return lax.cond(jnp.all(res.ok), lambda _: res, run, None)


def make_solver(system, t, q, *, jac=None, **options) -> Callable[[Any, jax.Array], Solutions]:
    """``jax.jit``-compiled ``(params, key) -> Solutions`` for a fixed system and shape."""
    return jax.jit(partial(solve, system, t, q, jac=jac, **options))
