"""The sampled measure, Monte-Carlo weights and the FS reference quantities (single point).

A slice of type t meets X in d(t) points distributed (Crofton) as the top form
prod_a omega_a^{k_a}, k_a = n_a - t_a, with omega_a the Fubini-Study form of
factor a in the class H_a (so int_X prod omega_a^{k_a} = d(t)).  In chart
coordinates u, with vol_0 = prod_i (i/2) du_i ^ dubar_i and g_a the pulled-back
FS metric of factor a (K_a = (1/pi) log ||z^(a)||^2),

    prod_a omega_a^{k_a} = (prod_a k_a!) [s^k] det(sum_a s_a g_a) vol_0 =: rho_t vol_0.

With equally many slices of every type the sampled probability density is
rho_mix = sum_t rho_t / sum_t d(t), and the weight of a point is

    w = |Omega|^2 / rho_mix,   so that   E[w f] = int_X f |Omega|^2 vol_0

exactly, with no fitted constant; likewise E[det g_FS / rho_mix] = int_X J^n/n!,
the FS volume, which the intersection numbers give exactly (the self-test of
``cygen sample``).  The coefficient [s^k] is extracted by a discrete Fourier
transform over (n+1)-th roots of unity in s_2..s_m (s_1 = 1), exact because the
degree in each s_a is at most n.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import runtime as rt


def factor_metrics(geo: rt.Geometry, f: rt.Frame) -> jax.Array:
    """(m, dim, dim): the unit (class H_a) FS metric of each factor, pulled back to the chart."""
    g_amb = geo.fs_ambient(f.zc)
    p = f.pullback
    out = []
    for a, (o, s) in enumerate(zip(geo.offsets, geo.factor_sizes, strict=True)):
        block = p[:, o : o + s] @ g_amb[o : o + s, o : o + s] @ p[:, o : o + s].conj().T
        out.append(block / geo.kahler[a])
    return jnp.stack(out)


def _dft_tables(dim: int, n_factors: int, ks: Sequence[Sequence[int]]):
    """Grid of s-values (G, m) and per-type Fourier weights (T, G) extracting [s^k]."""
    order = dim + 1
    omega = np.exp(2j * np.pi * np.arange(order) / order)
    grid = list(itertools.product(range(order), repeat=n_factors - 1))
    s = np.array([[1.0 + 0j] + [omega[j] for j in g] for g in grid])
    weights = np.array(
        [
            [np.prod([omega[(-j * k[a + 1]) % order] for a, j in enumerate(g)]) / len(grid)
             for g in grid]
            for k in ks
        ]
    )
    return s, weights


def _det(g: jax.Array) -> jax.Array:
    return rt.det(g)


def slice_densities(geo: rt.Geometry, slice_ts, factors: jax.Array) -> jax.Array:
    """(T,): rho_t for each slice type t, from the per-factor metrics (see module docstring)."""
    dims = [s - 1 for s in geo.factor_sizes]
    ks = [[n - t for n, t in zip(dims, ts, strict=True)] for ts in slice_ts]
    dim = factors.shape[-1]
    factorials = jnp.asarray([math.prod(math.factorial(x) for x in k) for k in ks], float)
    if len(dims) == 1:
        return factorials * jnp.real(_det(factors[0]))
    s, weights = _dft_tables(dim, len(dims), ks)
    dets = _det(jnp.einsum("ga,aij->gij", jnp.asarray(s), factors))
    return factorials * jnp.real(jnp.asarray(weights) @ dets)


def point_data(
    geo: rt.Geometry,
    slice_ts: Sequence[Sequence[int]],
    total_degree: int,
    z: jax.Array,
) -> dict[str, jax.Array]:
    """Everything ``cygen sample`` stores or summarises for one point."""
    z = rt.normalize(geo, z)
    jac = geo.jacobian(z)
    chart = rt.select_chart_normalized(geo, z, jac)
    f = rt.frame_at(geo, z, jac, chart)  # normalize's frame is the selected chart's frame
    factors = factor_metrics(geo, f)
    g = jnp.einsum("a,aij->ij", jnp.asarray(geo.kahler), factors)
    omega = 1.0 / jnp.abs(rt.det(f.minor)) ** 2
    rho = jnp.sum(slice_densities(geo, slice_ts, factors)) / total_degree
    grad = jnp.linalg.norm(f.jac, axis=1)
    residual = jnp.max(jnp.abs(geo.equations(f.zc)) / (grad * jnp.linalg.norm(f.zc)))
    return {
        "points": z,
        "chart": chart.astype(jnp.int32),
        "omega_sq": omega,
        "weights": omega / rho,
        "det_fs": jnp.real(_det(g)),
        "rho": rho,
        "residual": residual,
    }


def sigma(weights: np.ndarray, eta: np.ndarray) -> float:
    """sigma = sum w |1 - eta/eta_bar| / sum w, eta_bar = sum w eta / sum w (self-normalising)."""
    weights = np.asarray(weights, float)
    eta = np.asarray(eta, float)
    eta_bar = np.sum(weights * eta) / np.sum(weights)
    return float(np.sum(weights * np.abs(1 - eta / eta_bar)) / np.sum(weights))


def ricci_measure(w: np.ndarray, eta: np.ndarray, ricci: np.ndarray, dim: int) -> float:
    """cymetric's Ricci measure ||R|| = Vol_K^(1/n) / Vol_CY int_X |R| dVol_K, in its units.

    Ours are absolute weights (mean(w f) = int f |Omega|^2 vol_0) and eta = det g / |Omega|^2:
    Vol_CY = mean(w), int |R| dVol_K = mean(w eta |R|), and Vol_K = mean(w eta) is
    int omega^n / n!.  cymetric normalises its weights so that mean(w det g_FS / |Omega|^2)
    = int J^n (no 1/n!), so its Vol_K is n! ours while its ratio int |R| dVol_K / Vol_CY is
    the same: ||R|| = (n! mean(w eta))^(1/n) mean(w eta |R|) / mean(w).  The FS metric on the
    Fermat quintic gives 0.69 (cymetric quotes 0.7-0.9).  The one implementation, also used
    by the curvature summaries of :mod:`cygen.evaluate.integrals`.
    """
    w, eta, ricci = (np.asarray(x, np.float64) for x in (w, eta, ricci))
    vol_k = np.mean(w * eta)
    return float((math.factorial(dim) * vol_k) ** (1 / dim) * np.mean(w * eta * np.abs(ricci))
                 / np.mean(w))
