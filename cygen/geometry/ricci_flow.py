"""Ricci flow of a conformal metric on the flat square torus, by a spectral method (float64).

On the torus T = R^2 / (L Z)^2 with its flat metric g0, a conformal metric g = e^{2u} g0 has
Gaussian curvature K = -e^{-2u} Delta u (Delta the flat Laplacian), and the Ricci flow
d g / dt = -2 K g becomes u_t = -K = e^{-2u} Delta u.  Its area A = int e^{2u} is constant:
dA/dt = 2 int e^{2u} u_t = 2 int Delta u = 0 (Gauss-Bonnet with chi = 0; the mean curvature is
zero), so the normalised flow d g / dt = (r - R) g, r = mean scalar curvature = 0, is the same
flow.  The flow converges to the flat metric of the same area, u = c with e^{2c} L^2 = A, and
about it u_t = e^{-2c} Delta u: the slowest mode decays as exp(-e^{-2c} lambda_1 t), with
lambda_1 = (2 pi / L)^2 the first nonzero eigenvalue of -Delta.

**The unknown.** The solver evolves the area density rho = e^{2u}, for which the flow is the
conservation law rho_t = Delta log rho.  Every update is a spectral Laplacian times something,
whose zero Fourier mode is exactly zero, so the discrete area L^2 mean(rho) is conserved to
rounding, step after step (the trapezoidal rule is spectrally accurate for smooth periodic
functions, so this is the area).

**The time stepper** (exponential, ETD2RK of Cox and Matthews).  At each step, with
a = max 1/rho (frozen for the step) and the stiff linear part L = a Delta (Fourier symbol
-a |k|^2), write F(rho) = Delta log rho = L rho + N(rho) and take, with z = -a |k|^2 h,

    rho*      = rho + h phi1(z) F(rho)
    rho_next  = rho* + h phi2(z) (F(rho*) - F(rho) - L (rho* - rho)),

phi1(z) = (e^z - 1)/z, phi2(z) = (e^z - 1 - z)/z^2: second order in h.  *Stability*, by the
frozen-coefficient argument: linearised about rho, F acts on a Fourier mode as -b |k|^2 with
b = 1/rho, and with r = b/a in (0, 1] (which the choice a = max 1/rho guarantees) the
amplification factor of one step is
G = 1 + r (e^z - 1) + r (r - 1) (e^z - 1)(e^z - 1 - z)/z, which lies in [0, 1] for every
z <= 0 (tested): no step-size limit and no sign-flipping of fast modes.  *Accuracy*: the
linear part is integrated exactly, and a -> e^{-2c} as the flow converges, so the final
exponential rate carries no time-step error; the transient is second order in h.  The step
rule is therefore one of accuracy only: h a lambda_1 small for the slow modes (the studies
use h a_0 lambda_1 <= 0.01, and rerun the largest perturbation with h halved).

Everything is pure JAX (``jnp.fft``, ``jax.lax.scan``) and jit-compiled, with no Python
branch on traced values.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp

__all__ = ["area", "curvature", "first_eigenvalue", "flat_constant", "flow", "grid",
           "laplacian", "phi_functions", "step", "wave_numbers"]

_TAYLOR = 0.1  # |z| below which phi1, phi2 use their Taylor series (no cancellation)


def grid(n: int, length: float) -> tuple[jax.Array, jax.Array]:
    """(x, y), each (n, n): the points (i L/n, j L/n) of the torus, ``x`` varying along axis 0."""
    s = jnp.arange(n, dtype=jnp.float64) * (length / n)
    return jnp.meshgrid(s, s, indexing="ij")


def wave_numbers(n: int, length: float) -> jax.Array:
    """|k|^2 on the (n, n // 2 + 1) grid of ``rfft2``: the symbol of -Delta."""
    kx = 2 * jnp.pi / length * jnp.fft.fftfreq(n, 1.0 / n)
    ky = 2 * jnp.pi / length * jnp.fft.rfftfreq(n, 1.0 / n)
    return kx[:, None] ** 2 + ky[None, :] ** 2


def first_eigenvalue(length: float) -> float:
    """lambda_1 = (2 pi / L)^2, the first nonzero eigenvalue of -Delta on the square torus."""
    return (2 * jnp.pi / length) ** 2


def laplacian(f: jax.Array, length: float) -> jax.Array:
    """The flat Laplacian of a periodic (n, n) field, spectrally (exact on trigonometric
    polynomials of degree < n/2)."""
    mu = wave_numbers(f.shape[0], length)
    return jnp.fft.irfft2(-mu * jnp.fft.rfft2(f), s=f.shape)


def curvature(u: jax.Array, length: float) -> jax.Array:
    """Gaussian curvature K = -e^{-2u} Delta u of g = e^{2u} g0 at the grid points."""
    return -jnp.exp(-2 * u) * laplacian(u, length)


def area(u: jax.Array, length: float) -> jax.Array:
    """int e^{2u} dx dy by the trapezoidal rule (spectrally accurate)."""
    return length**2 * jnp.mean(jnp.exp(2 * u))


def flat_constant(u: jax.Array, length: float) -> jax.Array:
    """c with e^{2c} L^2 = area(u): the flat metric e^{2c} g0 that the flow converges to."""
    return 0.5 * jnp.log(area(u, length) / length**2)


def phi_functions(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """phi1(z) = (e^z - 1)/z and phi2(z) = (e^z - 1 - z)/z^2, with phi1(0) = 1, phi2(0) = 1/2
    (Taylor series to z^9 for |z| < 0.1, where the closed forms lose digits)."""
    small = jnp.abs(z) < _TAYLOR
    zs = jnp.where(small, -1.0, z)
    series1, series2 = jnp.zeros_like(z), jnp.zeros_like(z)
    for j in range(9, -1, -1):  # Horner: sum_j z^j / (j+1)!  and  sum_j z^j / (j+2)!
        series1 = series1 * z + 1.0 / math.factorial(j + 1)
        series2 = series2 * z + 1.0 / math.factorial(j + 2)
    phi1 = jnp.where(small, series1, jnp.expm1(zs) / zs)
    phi2 = jnp.where(small, series2, (jnp.expm1(zs) - zs) / zs**2)
    return phi1, phi2


def step(rho: jax.Array, h: float, mu: jax.Array) -> jax.Array:
    """One ETD2RK step of rho_t = Delta log rho (``mu`` = |k|^2 from :func:`wave_numbers`)."""
    shape = rho.shape

    def flux(r):  # the Fourier coefficients of F(r) = Delta log r
        return -mu * jnp.fft.rfft2(jnp.log(r))

    a = 1.0 / jnp.min(rho)
    phi1, phi2 = phi_functions(-a * mu * h)
    f0 = flux(rho)
    d1 = h * phi1 * f0  # rho* - rho, in Fourier space
    rho1 = rho + jnp.fft.irfft2(d1, s=shape)
    d2 = h * phi2 * (flux(rho1) - f0 + a * mu * d1)
    return rho1 + jnp.fft.irfft2(d2, s=shape)


def _observables(rho: jax.Array, length: float, c: jax.Array) -> dict[str, jax.Array]:
    u = 0.5 * jnp.log(rho)
    k = curvature(u, length)
    return {"sup_curvature": jnp.max(jnp.abs(k)), "max_curvature": jnp.max(k),
            "min_curvature": jnp.min(k), "flat_distance": jnp.max(jnp.abs(u - c)),
            "area": length**2 * jnp.mean(rho)}


@partial(jax.jit, static_argnames=("steps", "record_every"))
def flow(u0: jax.Array, length: float, t_end: float, steps: int,
         record_every: int = 1) -> dict[str, jax.Array]:
    """Ricci flow u_t = e^{-2u} Delta u from ``u0`` ((n, n), periodic) to ``t_end`` in
    ``steps`` equal steps.

    Returns the final ``u`` and, at t = 0 and after every ``record_every`` steps (``steps``
    must be a multiple of it): ``t``; ``sup_curvature`` = max |K|, ``max_curvature``,
    ``min_curvature``; ``flat_distance`` = max |u - c| (= sup |log(g / g_flat)| / 2, with
    g_flat = e^{2c} g0 the flat metric of the same area); ``area``.
    """
    if steps % record_every:
        raise ValueError(f"steps ({steps}) must be a multiple of record_every ({record_every})")
    u0 = jnp.asarray(u0, dtype=jnp.float64)
    h = t_end / steps
    mu = wave_numbers(u0.shape[0], length)
    c = flat_constant(u0, length)

    def inner(rho, _):
        return step(rho, h, mu), None

    def outer(rho, _):
        rho, _ = jax.lax.scan(inner, rho, None, length=record_every)
        return rho, _observables(rho, length, c)

    rho0 = jnp.exp(2 * u0)
    rho, rec = jax.lax.scan(outer, rho0, None, length=steps // record_every)
    first = _observables(rho0, length, c)
    out = {key: jnp.concatenate([first[key][None], rec[key]]) for key in first}
    out["t"] = h * record_every * jnp.arange(steps // record_every + 1)
    out["u"] = 0.5 * jnp.log(rho)
    out["c"] = c
    return out
