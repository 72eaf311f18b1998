"""Batched univariate polynomial roots in JAX (Aberth-Ehrlich), without ``eig``.

``polyroots(coeffs)`` finds all ``d`` roots of every polynomial of a batch
``coeffs[..., :]`` (highest degree first, as :func:`numpy.roots`).  Only elementwise
arithmetic, ``while_loop`` and gathers are used, so it jits, vmaps and runs on GPUs,
where ``jnp.roots`` (an eigenvalue problem) does not.  Everything is complex128:
callers must enable double precision (``jax.config.update("jax_enable_x64", True)``;
importing :mod:`cygen` does it), otherwise it silently degrades to complex64.
``converged[b]`` is true when every root has a small backward error and the roots' sum
matches Vieta's.  The algorithm (exact scaling, Newton-polygon starts, Gauss-Seidel
Aberth sweeps, compaction of the batch), the convergence flag and the limitations are in
docs/sampling.md, "Univariate roots" (the site's "Sampling points and weights" page).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["polish", "polyroots"]

_TINY = 1e-300  # floor for |u|^2 in reciprocals: no 0 * inf, no NaN
_SHRINK = 4  # compaction factor of the recursive batches
_MIN_BATCH = 256  # below this size no further compaction
_CHUNK = 32768  # larger batches are solved in chunks of at most this size (cache)
_VIETA_TOL = 1e-6  # |sum of roots + a_1/a_0| / sum |roots| for the converged flag


def _abs2(u):
    return u.real * u.real + u.imag * u.imag


def _recip(u):
    """1/u without complex division (cheap in XLA); 1/0 becomes 0."""
    return jnp.conj(u) * (1.0 / jnp.maximum(_abs2(u), _TINY))


def _horner(a, z):
    """p(z) and p'(z) for coefficients ``a`` (list, highest degree first)."""
    p, dp = a[0], jnp.zeros_like(z)
    for c in a[1:]:
        dp = dp * z + p
        p = p * z + c
    return p, dp


def _aberth_sweep(a, z):
    """One Gauss-Seidel Aberth-Ehrlich sweep over the list of approximations ``z``.

    ``sum_j 1/(z_k - z_j)`` is accumulated as N/D (D = prod_j u_j, N = D') so that a
    root costs two reciprocals instead of d.
    """
    z = list(z)
    for k, zk in enumerate(z):
        p, dp = _horner(a, zk)
        den, num = 1.0, 0.0
        for j, zj in enumerate(z):
            if j != k:
                u = zk - zj
                den, num = den * u, num * u + den
        z[k] = zk - p * _recip(dp - p * num * _recip(den))
    return z


def _pow2(k):
    """2.0**k for integer arrays k in [-1022, 1023], exactly (built from the bits)."""
    k = jnp.clip(k, -1022, 1023).astype(jnp.int64)
    return lax.bitcast_convert_type((k + 1023) << 52, jnp.float64)


def _times_pow2(x, k):
    """x * 2**k exactly (barring over/underflow) for |k| <= 2044."""
    h = k // 2
    return x * _pow2(h) * _pow2(k - h)


def _log2(x):
    """About log2(x) for x >= 0 (error < 0.09; -1023 for 0): exponent bits + mantissa."""
    bits = lax.bitcast_convert_type(x, jnp.int64)
    mantissa = (bits & ((1 << 52) - 1)).astype(jnp.float64) * 2.0**-52
    return (bits >> 52).astype(jnp.float64) - 1023.0 + mantissa


def _scale(a):
    """Exact power-of-two scaling: (b, e) with q(y) = sum b_i y^(d-i) = 2^-f p(2^e y).

    e ~ log2 of the geometric mean of the nonzero roots' moduli, f ~ log2|a_0|.
    """
    d = len(a) - 1
    la = [_log2(jnp.maximum(jnp.abs(c.real), jnp.abs(c.imag))) for c in a]  # no overflow
    low, deg = la[0], 0  # the last nonzero coefficient and the number of nonzero roots
    for i in range(1, d + 1):
        low, deg = jnp.where(a[i] != 0, la[i], low), jnp.where(a[i] != 0, i, deg)
    e = jnp.round((low - la[0]) / jnp.maximum(deg, 1))
    e = jnp.clip(e, -1000, 1000).astype(jnp.int64)
    f = jnp.clip(jnp.round(la[0]), -1000, 1000).astype(jnp.int64)
    return [_times_pow2(c, -e * i - f) for i, c in enumerate(a)], e


def _initial(b):
    """Initial guesses: Bini's radii from the Newton polygon of q(y) = sum b_i y^(d-i).

    The upper convex hull of the points (k, log2|b_{d-k}|) has edges [lo, hi]; each
    contributes hi - lo roots of modulus (|b_{d-lo}| / |b_{d-hi}|)^(1/(hi-lo)), i.e.
    2^-slope.  Root m takes the edge above (m, m+1), whose slope is
    ``min_{j <= m} max_{h > m} slope(j, h)`` (attained at j = lo, h = hi), and the
    fixed angle 2 pi m / d + 0.4.  Logarithms and powers are crude bit-level
    approximations: only rough radii are needed.
    """
    d = len(b) - 1
    # y[k]: ~log2 |coefficient of y^k|, floored at 2^-500 for zero coefficients
    y = [jnp.maximum(0.5 * _log2(_abs2(b[d - k])), -500.0) for k in range(d + 1)]
    zs, zero = [], True
    for m in range(d):
        zero = zero & (b[d - m] == 0)  # a_d = ... = a_(d-m) = 0: root m is exactly 0
        slope = functools.reduce(
            jnp.minimum,
            [
                functools.reduce(
                    jnp.maximum, [(y[h] - y[j]) * (1.0 / (h - j)) for h in range(m + 1, d + 1)]
                )
                for j in range(m + 1)
            ],
        )
        k = jnp.floor(-slope)  # log2 of the radius; 2^x ~ 2^floor(x) (1 + frac)
        radius = jnp.where(zero, 0.0, (1.0 - slope - k) * _pow2(k))
        zs.append(radius * np.exp(1j * (2 * np.pi * m / d + 0.4)))
    return zs


def _solve(a, z, step, it, valid, iterations, step_tol):
    """Aberth sweeps until converged, compacting the still-active polynomials.

    ``z``: the current iterate; ``step``: per polynomial, the largest squared relative
    root step of the last sweep; ``it``: sweeps done so far; ``valid``: mask of the
    real polynomials (None: all).  Returns the roots and the total number of sweeps.
    """
    n = z[0].shape[0]
    cap = -(-n // _SHRINK) if n >= _MIN_BATCH else 0
    cap = -(-cap // 8) * 8

    def active(step):
        act = step > step_tol**2  # (NaN: inactive)
        return act if valid is None else act & valid

    def cond(state):
        i, _, step = state
        return (i < iterations) & (jnp.sum(active(step)) > cap)

    def body(state):
        i, z, _ = state
        new = _aberth_sweep(a, z)
        steps = [_abs2(u - v) / jnp.maximum(_abs2(v), _TINY) for u, v in zip(z, new, strict=True)]
        return i + 1, new, functools.reduce(jnp.maximum, steps)

    it, z, step = lax.while_loop(cond, body, (it, z, step))
    if cap == 0:
        return z, it
    act = active(step)
    idx = jnp.nonzero(act, size=cap, fill_value=0)[0]
    sub_valid = jnp.arange(cap) < jnp.sum(act)
    sub_a, sub_z = [c[idx] for c in a], [u[idx] for u in z]
    sub_z, it = _solve(sub_a, sub_z, step[idx], it, sub_valid, iterations, step_tol)
    put = jnp.where(sub_valid, idx, n)  # out of range: dropped
    z = [u.at[put].set(v, mode="drop") for u, v in zip(z, sub_z, strict=True)]
    return z, it


def _quadratic(a):
    """Both roots of a[0] z^2 + a[1] z + a[2], by the stable formula."""
    a0, a1, a2 = a
    s = jnp.sqrt(a1 * a1 - 4.0 * a0 * a2)
    s = jnp.where((jnp.conj(a1) * s).real < 0, -s, s)
    q = -0.5 * (a1 + s)
    return [q * _recip(a0), jnp.where(q == 0, 0.0, a2 * _recip(q))]


def _polish(a, z, steps):
    """``steps`` sweeps.  They run in a loop whose trip count XLA cannot see (it is
    ``steps`` unless a NaN count is negative), so the polished roots are materialised
    once instead of being recomputed inside every consumer fusion (~3x slower)."""
    if steps == 0:
        return z
    n = jnp.where(jnp.sum(jnp.isnan(z[0].real)) >= 0, steps, 0)
    return lax.fori_loop(0, n, lambda _, z: _aberth_sweep(a, z), z)


def _converged(a, z, tol):
    """Backward-error test |p(r)| <= tol * sum |a_i||r|^i for all roots, plus Vieta's sum."""
    ok = jnp.isfinite(a[0]) & (a[0] != 0)
    aa = [jnp.abs(c) for c in a]
    for zk in z:
        p, _ = _horner(a, zk)
        r, t = jnp.abs(zk), aa[0]
        for c in aa[1:]:
            t = t * r + c
        ok = ok & (jnp.abs(p) <= tol * t) & jnp.isfinite(t)
    total = sum(z)
    mean = a[1] / a[0]
    size = sum(jnp.abs(u) for u in z) + jnp.abs(mean)
    return ok & (jnp.abs(total + mean) <= _VIETA_TOL * size)


def _as_complex(x):
    return jnp.asarray(x).astype(jnp.complex128)


def polyroots(
    coeffs: jax.Array,
    *,
    iterations: int = 50,
    tol: float = 1e-12,
    polish_steps: int = 0,
    step_tol: float = 1e-10,
) -> tuple[jax.Array, jax.Array]:
    """All roots of a batch of polynomials.

    Args:
      coeffs: ``(..., d+1)`` coefficients, highest degree first (``numpy.roots``
        convention); computed in complex128.  Leading coefficients nonzero.
      iterations: cap on the number of Aberth sweeps (only reached by multiple roots
        and tight clusters).
      tol: backward-error threshold of the ``converged`` flag (see module docstring).
      polish_steps: extra Aberth (Newton with implicit deflation) sweeps at the end.
      step_tol: a polynomial is done once no root moved by more than
        ``step_tol * |root|`` in a sweep.

    Returns:
      ``(roots, converged)``: roots ``(..., d)`` complex128 in no particular order,
      and ``converged`` ``(...,)`` bool.

    Pure; works under ``jit`` and ``vmap``.  The batch axes are flattened before an
    internal ``jit``, so every batch shape with the same size and degree shares one
    compiled program.
    """
    c = _as_complex(coeffs)
    batch, d = c.shape[:-1], c.shape[-1] - 1
    if d < 0:
        raise ValueError("coeffs needs a last axis of length >= 1")
    if d == 0:
        return jnp.zeros((*batch, 0), c.dtype), jnp.isfinite(c[..., 0]) & (c[..., 0] != 0)
    roots, ok = _polyroots_flat(
        c.reshape(math.prod(batch), d + 1),
        iterations=iterations,
        tol=tol,
        polish_steps=polish_steps,
        step_tol=step_tol,
    )
    return roots.reshape(*batch, d), ok.reshape(batch)


@functools.partial(jax.jit, static_argnames=("iterations", "tol", "polish_steps", "step_tol"))
def _polyroots_flat(flat, **options):
    """polyroots for an (n, d+1) batch, d >= 1: chunked on CPU when large."""
    n, d = flat.shape[0], flat.shape[1] - 1
    solve = functools.partial(_solve_flat, **options)
    if n <= _CHUNK or jax.default_backend() != "cpu":
        return solve(flat)
    k = -(-n // _CHUNK)  # chunks that stay in cache, solved one after the other
    size = -(-n // k)
    pad = jnp.broadcast_to(flat[:1], (k * size - n, d + 1))  # copies of row 0
    roots, ok = lax.map(solve, jnp.concatenate([flat, pad]).reshape(k, size, d + 1))
    return roots.reshape(k * size, d)[:n], ok.reshape(k * size)[:n]


def _solve_flat(flat, *, iterations, tol, polish_steps, step_tol):
    """polyroots for an (n, d+1) batch, d >= 1."""
    d = flat.shape[-1] - 1
    b, e = _scale([flat[:, i] for i in range(d + 1)])
    if d == 1:
        z = [-b[1] * _recip(b[0])]
    elif d == 2:
        z = _polish(b, _quadratic(b), polish_steps)
    else:
        z = _initial(b)
        inf = jnp.full(z[0].shape, jnp.inf)  # the step "before" the first sweep
        z, _ = _solve(b, z, inf, 0, None, iterations, step_tol)
        z = _polish(b, z, polish_steps)
    ok = _converged(b, z, tol)
    return _times_pow2(jnp.stack(z, axis=-1), e[:, None]), ok


@functools.partial(jax.jit, static_argnames=("steps",))
def polish(coeffs: jax.Array, roots: jax.Array, steps: int = 2) -> jax.Array:
    """``steps`` Newton steps for every root of ``coeffs`` (``(..., d+1)``, highest first).

    Each step is Newton on ``p(z) / prod_{j != k} (z - z_j)`` (Aberth's implicit
    deflation; one Gauss-Seidel Aberth sweep over the roots), which is plain Newton
    for well separated roots but keeps the roots of a cluster from jumping onto each
    other.  ``roots``: ``(..., d)``, all ``d`` approximations of each polynomial.
    Computed on the exactly power-of-two-scaled polynomial, i.e. on ``p`` itself.
    """
    c = _as_complex(coeffs)
    r = jnp.asarray(roots, c.dtype)
    d = c.shape[-1] - 1
    if d < 1:
        return r
    b, e = _scale([c[..., i] for i in range(d + 1)])
    z = [_times_pow2(r[..., k], -e) for k in range(d)]
    z = _polish(b, z, steps)
    return _times_pow2(jnp.stack(z, axis=-1), e[..., None])
