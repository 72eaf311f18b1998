"""Batched homotopy continuation for square multihomogeneous systems (JAX, complex128).

Problem
-------
Variables are ``A`` groups of homogeneous coordinates ``x = (x^(0), ..., x^(A-1))``,
``x^(a) in C^(t_a+1)`` (projective dimension ``t_a``), concatenated into one vector of
length ``N = sum_a (t_a+1)``.  There are ``K = sum_a t_a`` equations ``F_k``; ``F_k`` is
homogeneous of degree ``q[a][k]`` in group ``a``.  For generic coefficients the number of
isolated solutions is the multihomogeneous Bezout number ``d`` = coefficient of
``prod_a h_a^t_a`` in ``prod_k sum_a q[a][k] h_a``.  In cygen the system is a complete
intersection restricted to a random linear slice, ``F_k(lam) = p_k(B lam)``, and all ``d``
solutions of every slice are needed.

Algorithm
---------
* Start system (m-homogeneous): ``G_k(x) = prod_a prod_{j<q[a][k]} l_akj . x^(a)`` with
  random linear forms.  Its solutions are enumerated combinatorially
  (:func:`multihomogeneous_start`): assign each equation to a group with ``q[a][k] > 0`` so
  that group ``a`` receives exactly ``t_a`` equations, pick one linear factor of each
  equation; the group coordinates are then fixed by ``t_a`` linear equations + the patch.
* Affine patches: one random hyperplane ``c_a . x^(a) = 1`` per group is appended, so the
  square system has ``N`` equations in ``N`` unknowns and nothing diverges to infinity.
* Linear homotopy with the gamma trick, ``H(x, s) = (1-s) gamma G(x) + s F(x)``, random
  ``gamma``, linear forms and patches drawn independently for every slice.
* Tracking, all paths of all slices in lockstep inside one ``lax.while_loop`` with masks:
  RK4 predictor (the first stage reuses the tangent computed with the previous corrector),
  two Newton corrector iterations at the new ``s``.  The first Newton correction estimates
  the RK4 local error ``err``; a step is accepted when ``err <= tol`` and the second
  correction contracts (``|dx2| <= contraction * |dx1|``, which rejects steps landing where
  the Jacobian is badly conditioned, the usual cause of path jumping).  Step sizes are
  adapted per path with the order-5 rule ``h *= clip(0.8 (tol/err)^(1/5))``.  Errors are
  measured group-wise relative to ``|x^(a)|_inf`` (scale invariant).
* The small ``N x N`` linear solves are unrolled Gaussian elimination with partial pivoting
  on structure-of-arrays data (every matrix entry is a batch-shaped array), which is much
  faster on CPU than batched LAPACK calls for ``N <~ 8``.
* End: ``polish_iters`` Newton iterations on ``F`` (plus patches) at ``s = 1``; the target is
  generic, so endpoints are regular and no end game is needed.

Failure handling
----------------
A path fails when it does not reach ``s = 1`` within ``max_steps`` iterations, when its
step size underflows ``h_min``, when the final Newton correction is not below
``final_tol`` (relative) or when the result is not finite.  A slice is ``ok`` only if all
its ``d`` paths succeeded *and* its ``d`` endpoints are pairwise distinct (projective
distance ``> dup_tol`` in at least one group); duplicates reveal path jumping.  With
``retries > 0`` the failed slices (up to ``ceil(retry_fraction * B)`` of them per round)
are re-solved *whole* with fresh ``gamma``/start system/patches; re-running only the failed
paths would not be correct, since the start-to-end correspondence changes with ``gamma``.

Limits
------
* Assumes the target system is generic for its multidegree structure (exactly ``d``
  regular isolated solutions).  Positive-dimensional or singular solutions are reported as
  failures, not resolved.
* Requires ``jax_enable_x64`` (complex128).
* Cost is dominated by the slowest path in the batch (lockstep); use batches of a few
  thousand paths or more to amortise the loop overhead.
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

__all__ = [
    "Solutions",
    "StartSystem",
    "bezout_number",
    "make_solver",
    "multihomogeneous_start",
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
    return sum(
        math.prod(q[a][k] for k, a in enumerate(assign)) for assign in _assignments(t, q)
    )


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
# Small dense linear algebra on structure-of-arrays data
# --------------------------------------------------------------------------------------


def _cabs1(z):
    return jnp.abs(z.real) + jnp.abs(z.imag)


def _solve_soa(mat: list[list[jax.Array]], rhs: list[list[jax.Array]]) -> list[list[jax.Array]]:
    """Solve ``mat @ X = rhs`` for several right-hand sides, unrolled.

    ``mat[i][j]`` and ``rhs[r][i]`` are arrays of a common batch shape.  Gaussian elimination
    with partial pivoting (by |re|+|im|), fully unrolled at trace time.  Returns
    ``X[r][i]``.
    """
    n = len(mat)
    a = [list(row) for row in mat]
    b = [list(col) for col in rhs]
    for j in range(n):
        for r in range(j + 1, n):
            swap = _cabs1(a[r][j]) > _cabs1(a[j][j])
            for c in range(j, n):
                a[j][c], a[r][c] = (
                    jnp.where(swap, a[r][c], a[j][c]),
                    jnp.where(swap, a[j][c], a[r][c]),
                )
            for col in b:
                col[j], col[r] = jnp.where(swap, col[r], col[j]), jnp.where(swap, col[j], col[r])
        inv = 1.0 / a[j][j]
        for r in range(j + 1, n):
            f = a[r][j] * inv
            for c in range(j + 1, n):
                a[r][c] = a[r][c] - f * a[j][c]
            for col in b:
                col[r] = col[r] - f * col[j]
        a[j] = [None] * (j + 1) + [a[j][c] * inv for c in range(j + 1, n)]
        for col in b:
            col[j] = col[j] * inv
    for col in b:
        for i in range(n - 1, -1, -1):
            for c in range(i + 1, n):
                col[i] = col[i] - a[i][c] * col[c]
    return b


# --------------------------------------------------------------------------------------
# Homotopy evaluation
# --------------------------------------------------------------------------------------


class Solutions(NamedTuple):
    """Result of :func:`solve` (a pytree; fields have leading batch axis ``B``).

    Attributes:
        x: ``(B, d, N)`` solutions, each group scaled so its largest-modulus coordinate is 1.
        success: ``(B, d)`` bool, the path reached ``s = 1`` and the final Newton converged.
        ok: ``(B,)`` bool, all ``d`` paths succeeded and the endpoints are pairwise distinct.
        steps: ``(B, d)`` int32, predictor-corrector iterations used (last attempt).
        newton_err: ``(B, d)`` float, last relative Newton correction at ``s = 1``.
    """

    x: jax.Array
    success: jax.Array
    ok: jax.Array
    steps: jax.Array
    newton_err: jax.Array


class _Slices(NamedTuple):
    """Per-slice random data of the homotopy."""

    gamma: jax.Array  # (B,)
    ell: jax.Array  # (B, R, N) linear forms of the start system, embedded in C^N
    patch: jax.Array  # (B, A, N) patch hyperplanes, embedded in C^N


def _random_slices(key, batch: int, start: StartSystem) -> _Slices:
    offs = start.offsets
    n = offs[-1]
    n_groups = len(start.t)
    k1, k2, k3 = jax.random.split(key, 3)

    def cgauss(k, shape):
        kr, ki = jax.random.split(k)
        return (jax.random.normal(kr, shape) + 1j * jax.random.normal(ki, shape)) / np.sqrt(2)

    g = cgauss(k1, (batch,))
    gamma = g / jnp.abs(g)
    mask_ell = np.zeros((len(start.rows), n))
    for r, (a, _, _) in enumerate(start.rows):
        mask_ell[r, offs[a] : offs[a + 1]] = 1.0
    mask_patch = np.zeros((n_groups, n))
    for a in range(n_groups):
        mask_patch[a, offs[a] : offs[a + 1]] = 1.0
    ell = cgauss(k2, (batch, len(start.rows), n)) * mask_ell
    patch = cgauss(k3, (batch, n_groups, n)) * mask_patch
    return _Slices(gamma, ell, patch)


def _start_points(sl: _Slices, start: StartSystem) -> jax.Array:
    """Solutions of the start system in the patches, ``(B, d, N)``."""
    offs = start.offsets
    parts = []
    for a, ta in enumerate(start.t):
        lo, hi = offs[a], offs[a + 1]
        c = sl.patch[:, a, lo:hi]  # (B, ta+1)
        if ta == 0:
            parts.append(jnp.broadcast_to((1.0 / c)[:, None, :], (c.shape[0], start.n_paths, 1)))
            continue
        van = sl.ell[:, start.vanishing[a], lo:hi]  # (B, d, ta, ta+1)
        cc = jnp.broadcast_to(c[:, None, None, :], van.shape[:2] + (1, ta + 1))
        mat = jnp.concatenate([van, cc], axis=2)
        rhs = jnp.zeros(mat.shape[:-1], mat.dtype).at[..., -1].set(1.0)
        parts.append(jnp.linalg.solve(mat, rhs[..., None])[..., 0])
    return jnp.concatenate(parts, axis=-1)


def _make_eval(system, jac, start: StartSystem):
    """Return ``ev(x, params, ell) -> (F, G, JF, JG)`` for one point (vmapped later)."""
    n_eq = start.n_eqs
    row_eq = start.rows[:, 1]
    bounds = [int(v) for v in np.searchsorted(row_eq, np.arange(n_eq + 1))]

    def gfun(x, ell):
        v = ell @ x
        out = []
        for k in range(n_eq):
            seg = v[bounds[k] : bounds[k + 1]]
            out.append(jnp.prod(seg) if seg.shape[0] else jnp.ones((), v.dtype))
        return jnp.stack(out) if out else jnp.zeros((0,), v.dtype)

    def with_aux(f):
        def g(x, *args):
            y = f(x, *args)
            return y, y

        return g

    def ev(x, params, ell):
        jg, g = jax.jacfwd(with_aux(gfun), holomorphic=True, has_aux=True)(x, ell)
        if jac is None:
            jf, f = jax.jacfwd(with_aux(system), holomorphic=True, has_aux=True)(x, params)
        else:
            f, jf = system(x, params), jac(x, params)
        return f, g, jf, jg

    return ev


def _group_rel(dx, x, offs):
    """max over groups of |dx^(a)|_inf / |x^(a)|_inf (|.| = |re|+|im|), shape x[..., 0]."""
    out = None
    for a in range(len(offs) - 1):
        lo, hi = offs[a], offs[a + 1]
        r = jnp.max(_cabs1(dx[..., lo:hi]), -1) / jnp.max(_cabs1(x[..., lo:hi]), -1)
        out = r if out is None else jnp.maximum(out, r)
    return out


class _State(NamedTuple):
    x: jax.Array  # (B, d, N)
    tan: jax.Array  # (B, d, N) dx/ds at (x, s)
    s: jax.Array  # (B, d) float
    h: jax.Array  # (B, d) float
    status: jax.Array  # (B, d) int8: 0 active, 1 done, 2 failed
    steps: jax.Array  # (B, d) int32
    it: jax.Array  # () int32


def _track(system, jac, start, params, sl: _Slices, opts: dict) -> Solutions:
    offs = start.offsets
    n = offs[-1]
    n_eq = start.n_eqs
    ev1 = _make_eval(system, jac, start)
    # vmap over paths (params/ell shared), then over slices
    ev = jax.vmap(jax.vmap(ev1, (0, None, None)), (0, 0, 0))
    gamma = sl.gamma[:, None]  # (B, 1)
    patch = sl.patch  # (B, A, N)
    n_groups = len(start.t)

    def homotopy(x, s):
        """Return SoA Jacobian rows, H, dH/ds (lists of (B, d) arrays)."""
        f, g, jf, jg = ev(x, params, sl.ell)
        sc = s.astype(x.dtype)
        wg = (1.0 - sc) * gamma
        hval = [wg * g[..., k] + sc * f[..., k] for k in range(n_eq)]
        hs = [f[..., k] - gamma * g[..., k] for k in range(n_eq)]
        jrows = [[wg * jg[..., k, i] + sc * jf[..., k, i] for i in range(n)] for k in range(n_eq)]
        px = jnp.einsum("ban,bdn->bda", patch, x) - 1.0
        for a in range(n_groups):
            hval.append(px[..., a])
            hs.append(jnp.zeros_like(px[..., a]))
            jrows.append([jnp.broadcast_to(patch[:, None, a, i], x.shape[:2]) for i in range(n)])
        return jrows, hval, hs

    def tangent(x, s):
        jrows, _, hs = homotopy(x, s)
        (v,) = _solve_soa(jrows, [[-u for u in hs]])
        return jnp.stack(v, -1)

    def newton(x, s, with_tangent):
        jrows, hval, hs = homotopy(x, s)
        rhs = [[-u for u in hval]]
        if with_tangent:
            rhs.append([-u for u in hs])
        sol = _solve_soa(jrows, rhs)
        return [jnp.stack(v, -1) for v in sol]

    tol = opts["tol"]
    kappa = opts["contraction"]

    def body(st: _State) -> _State:
        active = st.status == 0
        last = st.h >= 1.0 - st.s
        h = jnp.where(last, 1.0 - st.s, st.h)
        hx = h[..., None]
        k1 = st.tan
        k2 = tangent(st.x + 0.5 * hx * k1, st.s + 0.5 * h)
        k3 = tangent(st.x + 0.5 * hx * k2, st.s + 0.5 * h)
        k4 = tangent(st.x + hx * k3, st.s + h)
        s1 = jnp.where(last, 1.0, st.s + h)
        xp = st.x + (hx / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        (d1,) = newton(xp, s1, False)
        x1 = xp + d1
        d2, tan1 = newton(x1, s1, True)
        x2 = x1 + d2
        err = _group_rel(d1, xp, offs)
        n2 = _group_rel(d2, x1, offs)
        finite = jnp.all(jnp.isfinite(x2.real) & jnp.isfinite(x2.imag), -1) & jnp.isfinite(err)
        good = finite & (err <= tol) & ((n2 <= kappa * err) | (n2 <= 1e-13))
        acc = active & good
        ratio = 0.8 * (tol / jnp.maximum(err, 1e-300)) ** 0.2
        h_acc = h * jnp.clip(ratio, 1.0, opts["max_growth"])
        h_rej = h * jnp.where(finite, jnp.clip(ratio, 0.1, 0.5), 0.25)
        h_new = jnp.where(acc, jnp.maximum(h_acc, st.h), jnp.where(active, h_rej, st.h))
        s_new = jnp.where(acc, s1, st.s)
        steps = st.steps + active.astype(jnp.int32)
        status = st.status
        status = jnp.where(acc & (s_new >= 1.0), 1, status)
        fail = active & ~acc & (h_new < opts["h_min"])
        fail = fail | ((status == 0) & (steps >= opts["max_steps"]))
        status = jnp.where(fail, 2, status).astype(jnp.int8)
        accx = acc[..., None]
        return _State(
            x=jnp.where(accx, x2, st.x),
            tan=jnp.where(accx, tan1, st.tan),
            s=s_new,
            h=h_new,
            status=status,
            steps=steps,
            it=st.it + 1,
        )

    def cond(st: _State):
        return jnp.any(st.status == 0) & (st.it < opts["max_steps"])

    x0 = _start_points(sl, start)
    bsz, d = x0.shape[:2]
    s0 = jnp.zeros((bsz, d))
    st = _State(
        x=x0,
        tan=tangent(x0, s0),
        s=s0,
        h=jnp.full((bsz, d), opts["h0"]),
        status=jnp.zeros((bsz, d), jnp.int8),
        steps=jnp.zeros((bsz, d), jnp.int32),
        it=jnp.zeros((), jnp.int32),
    )
    st = lax.while_loop(cond, body, st)

    # final Newton polish on the target system
    x = st.x
    s1 = jnp.ones((bsz, d))
    dx = jnp.zeros_like(x)
    for _ in range(opts["polish_iters"]):
        (dx,) = newton(x, s1, False)
        x = x + dx
    nerr = _group_rel(dx, x, offs)
    finite = jnp.all(jnp.isfinite(x.real) & jnp.isfinite(x.imag), -1)
    success = (st.status == 1) & finite & (nerr <= opts["final_tol"])
    x = _normalise(x, offs)
    distinct = _pairwise_distinct(x, offs, opts["dup_tol"])
    ok = jnp.all(success, -1) & distinct
    nerr = jnp.where(finite, nerr, jnp.inf)
    return Solutions(x=x, success=success, ok=ok, steps=st.steps, newton_err=nerr)


def _normalise(x, offs):
    parts = []
    for a in range(len(offs) - 1):
        xa = x[..., offs[a] : offs[a + 1]]
        i = jnp.argmax(_cabs1(xa), axis=-1)
        piv = jnp.take_along_axis(xa, i[..., None], axis=-1)
        # divide by the exact largest-modulus coordinate (refine the |re|+|im| choice)
        i = jnp.argmax(jnp.abs(xa / piv), axis=-1)
        piv = jnp.take_along_axis(xa, i[..., None], axis=-1)
        parts.append(xa / piv)
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
        ip = jnp.einsum("bin,bjn->bij", u, jnp.conj(u))  # <u_i, u_j>
        ph = ip / jnp.maximum(jnp.abs(ip), 1e-300)
        # | u_i - phase * u_j |, phase aligning u_j with u_i
        diff = u[:, :, None, :] - ph[..., None] * u[:, None, :, :]
        da = jnp.linalg.norm(diff, axis=-1)
        dist = da if dist is None else jnp.maximum(dist, da)
    dist = dist + jnp.eye(d) * 1e300
    return jnp.all(dist > dup_tol, axis=(-2, -1))


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------

_DEFAULTS = dict(
    tol=1e-6,
    contraction=0.1,
    h0=0.05,
    h_min=1e-10,
    max_growth=3.0,
    max_steps=400,
    polish_iters=3,
    final_tol=1e-10,
    dup_tol=1e-7,
)


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
        t: projective dimension of every variable group (``K = sum(t)``).
        q: ``q[a][k]`` = degree of equation ``k`` in group ``a``.
        params: pytree, every leaf with leading batch axis ``B``.
        key: PRNG key (start systems, patches and gamma are drawn from it).
        jac: optional ``jac(x, p) -> (K, N)``; default ``jax.jacfwd(holomorphic=True)``.
        retries: rounds of re-solving failed slices whole with new random data.
        retry_fraction: at most ``ceil(retry_fraction * B)`` slices are re-solved per round
            (static shapes); further failed slices stay ``ok=False``.
        **options: tracking options, defaults in ``_DEFAULTS``: ``tol`` (predictor relative
            error), ``contraction``, ``h0``, ``h_min``, ``max_growth``, ``max_steps``,
            ``polish_iters``, ``final_tol``, ``dup_tol``.

    Returns:
        :class:`Solutions` with ``x`` of shape ``(B, d, N)``.  Jit-compatible; deterministic
        for a fixed key.
    """
    if not jax.config.jax_enable_x64:
        raise RuntimeError("cygen.homotopy needs complex128: enable jax_enable_x64")
    unknown = set(options) - set(_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown options: {sorted(unknown)}")
    opts = {**_DEFAULTS, **options}
    start = multihomogeneous_start(t, q)
    if start.n_paths == 0:
        raise ValueError(f"the system with t={t}, q={q} has no isolated solutions")
    leaves = jax.tree_util.tree_leaves(params)
    if not leaves:
        raise ValueError("params must contain at least one array with a leading batch axis")
    bsz = leaves[0].shape[0]
    keys = jax.random.split(key, retries + 1)
    res = _track(system, jac, start, params, _random_slices(keys[0], bsz, start), opts)
    m = min(bsz, max(1, math.ceil(retry_fraction * bsz)))
    for r in range(retries):
        res = _retry(system, jac, start, params, res, keys[r + 1], m, opts)
    return res


def _retry(system, jac, start, params, res: Solutions, key, m: int, opts) -> Solutions:
    """Re-solve up to ``m`` failed slices whole with new random data; merge the results."""
    bsz = res.ok.shape[0]
    # indices of failed slices first (stable), padded with ok ones (results ignored)
    order = jnp.argsort(res.ok.astype(jnp.int32), stable=True)[:m]
    sub_params = jax.tree_util.tree_map(lambda p: p[order], params)

    def run(_):
        sub = _track(system, jac, start, sub_params, _random_slices(key, m, start), opts)
        take = ~res.ok[order] & sub.ok
        out = []
        for old, new in zip(res, sub, strict=True):
            sel = take.reshape(take.shape + (1,) * (new.ndim - 1))
            out.append(old.at[order].set(jnp.where(sel, new, old[order])))
        return Solutions(*out)

    return lax.cond(jnp.all(res.ok), lambda _: res, run, None) if bsz else res


def make_solver(system, t, q, *, jac=None, **options) -> Callable[[Any, jax.Array], Solutions]:
    """``jax.jit``-compiled ``(params, key) -> Solutions`` for a fixed system and shape."""
    return jax.jit(partial(solve, system, t, q, jac=jac, **options))
