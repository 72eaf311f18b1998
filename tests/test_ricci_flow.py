"""Ricci flow on the square torus (cygen.geometry.ricci_flow, `cygen study ricci_flow_torus`):
the spectral Laplacian, the curvature, the time stepper's stability and order, and the flow's
conserved area, curvature decay and exponential rate e^{-2c} lambda_1."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cygen.geometry import ricci_flow as rf
from cygen.studies.ricci_flow_torus import decreasing_from, fit_rate, perturbation

N, L = 32, 1.0
LAM = float(rf.first_eigenvalue(L))
T_END, STEPS, RECORD = 20.0 / LAM, 2000, 20  # h lambda_1 = 0.01
STEP = jax.jit(rf.step)
PHI = jax.jit(rf.phi_functions)


def test_spectral_laplacian_is_exact_on_trigonometric_polynomials():
    length = 2.5
    x, y = rf.grid(N, length)
    th = 2 * np.pi / length
    f = jnp.sin(3 * th * x) * jnp.cos(5 * th * y) + jnp.cos(7 * th * (x + y)) + 0.3
    exact = (-(9 + 25) * th**2 * jnp.sin(3 * th * x) * jnp.cos(5 * th * y)
             - 98 * th**2 * jnp.cos(7 * th * (x + y)))
    assert np.max(np.abs(rf.laplacian(f, length) - exact)) < 1e-10 * np.max(np.abs(exact))
    assert float(rf.first_eigenvalue(length)) == pytest.approx(th**2, rel=1e-15)
    # lambda_1 is the smallest nonzero |k|^2 of the grid
    mu = np.asarray(rf.wave_numbers(N, length))
    assert np.min(mu[mu > 0]) == pytest.approx(th**2, rel=1e-14)


def test_curvature_of_a_known_conformal_factor():
    """u = e sin(theta x): K = -e^{-2u} u'' = e theta^2 sin(theta x) e^{-2u}; Gauss-Bonnet
    int K dA = 0 on the torus; K > 0 at the top of a bump (a cap, like the sphere)."""
    x, _ = rf.grid(N, L)
    th, e = 2 * np.pi / L, 0.7
    u = e * jnp.sin(th * x)
    exact = e * th**2 * jnp.sin(th * x) * jnp.exp(-2 * u)
    assert np.max(np.abs(rf.curvature(u, L) - exact)) < 1e-10 * np.max(np.abs(exact))
    bump = perturbation(N)
    k = rf.curvature(bump, L)
    assert float(k[0, 0]) > 0 and float(jnp.min(k)) < 0
    assert abs(float(jnp.mean(k * jnp.exp(2 * bump)))) < 1e-12 * float(jnp.max(jnp.abs(k)))


def test_phi_functions_and_the_amplification_factor():
    z = jnp.asarray([-1e-8, -0.05, -0.0999, -0.1001, -0.5, -3.0, -40.0])
    phi1, phi2 = PHI(z)
    zz = np.asarray(z, dtype=np.longdouble)
    closed1 = np.expm1(zz) / zz
    closed2 = (np.expm1(zz) - zz) / zz**2
    assert np.allclose(phi1, closed1.astype(float), rtol=1e-14, atol=0)
    assert np.allclose(phi2[1:], closed2[1:].astype(float), rtol=1e-13, atol=0)
    assert float(PHI(jnp.zeros(()))[0]) == 1.0
    assert float(PHI(jnp.zeros(()))[1]) == 0.5
    # frozen coefficients, r = b/a in (0, 1]: the factor of one step lies in [0, 1]
    z = -jnp.logspace(-8, 6, 400)[:, None]
    r = jnp.linspace(1e-3, 1.0, 200)[None, :]
    p1, p2 = PHI(z)
    g = 1 + r * z * p1 + r * (r - 1) * (z * p1) * (z * p2)
    assert float(jnp.min(g)) >= -1e-12 and float(jnp.max(g)) <= 1.0


def test_one_step_follows_the_equation_and_converges_at_second_order():
    """(u(h) - u0)/h -> e^{-2u0} Delta u0 = -K(u0): fails for a flipped sign or a wrong
    exponent; halving h divides the error at a fixed time by about 4."""
    u0 = 0.8 * perturbation(N)
    mu = rf.wave_numbers(N, L)
    step = STEP
    rho0 = jnp.exp(2 * u0)
    h = 1e-7
    rate = (0.5 * jnp.log(step(rho0, h, mu)) - u0) / h
    k0 = rf.curvature(u0, L)
    assert np.max(np.abs(rate + k0)) < 1e-4 * np.max(np.abs(k0))

    def solve(steps, t=0.5 / LAM):
        rho = rho0
        for _ in range(steps):
            rho = step(rho, t / steps, mu)
        return rho

    ref = solve(160)
    errors = [float(jnp.max(jnp.abs(solve(s) - ref))) for s in (10, 20, 40)]
    orders = np.log2(np.asarray(errors[:-1]) / np.asarray(errors[1:]))
    assert np.all(orders > 1.7), (errors, orders)


@pytest.fixture(scope="module")
def flows():
    out = {}
    for eps in (0.2, 1.0):
        r = rf.flow(eps * perturbation(N), L, T_END, STEPS, RECORD)
        out[eps] = {k: np.asarray(v) for k, v in r.items()}
    return out


@pytest.mark.parametrize("eps", [0.2, 1.0])
def test_the_flow_conserves_the_area_and_reaches_the_flat_metric(flows, eps):
    r = flows[eps]
    drift = np.abs(r["area"] / r["area"][0] - 1)
    assert drift.max() < 1e-12
    assert float(rf.area(jnp.asarray(r["u"]), L)) == pytest.approx(r["area"][0], rel=1e-12)
    # the limit is the constant c of the same area, not just any constant
    assert np.max(np.abs(r["u"] - r["c"])) == pytest.approx(r["flat_distance"][-1])
    assert r["flat_distance"][-1] < 1e-6 * r["flat_distance"][0]


@pytest.mark.parametrize("eps", [0.2, 1.0])
def test_the_flow_reduces_the_curvature(flows, eps):
    """max |K| decreases monotonically, after a short transient for a large bump: K obeys
    K_t = Delta_g K + 2 K^2, so min K (< 0 by Gauss-Bonnet) can only rise, while at the
    maximum the reaction 2 K^2 competes with diffusion and wins at first for eps = 1."""
    r = flows[eps]
    t, sup_k = r["t"] * LAM, r["sup_curvature"]
    assert np.all(np.diff(r["min_curvature"]) >= -1e-12)
    assert np.all(r["min_curvature"] < 0) and np.all(r["max_curvature"] > 0)
    start = t[decreasing_from(sup_k)]
    if eps < 0.5:
        assert start == 0.0
    else:  # the transient is real and short
        assert sup_k.max() > 1.1 * sup_k[0] and 0 < start <= 0.5
    assert sup_k[-1] < 1e-5 * sup_k[0]


@pytest.mark.parametrize("eps", [0.2, 1.0])
def test_the_decay_rate_is_exp_minus_2c_times_lambda_1(flows, eps):
    r = flows[eps]
    predicted = np.exp(-2 * float(r["c"])) * LAM
    for key in ("sup_curvature", "flat_distance"):
        rate = fit_rate(r["t"], r[key], T_END / 2)
        assert rate == pytest.approx(predicted, rel=1e-2)
    if eps == 1.0:  # the factor e^{-2c} = 0.75 is seen: lambda_1 alone would be 25 % off
        assert abs(fit_rate(r["t"], r["sup_curvature"], T_END / 2) / LAM - 1) > 0.2


def test_wrong_flows_fail_these_checks():
    """Controls: with the sign flipped (u_t = -e^{-2u} Delta u) the curvature grows; with the
    wrong exponent (u_t = e^{2u} Delta u) the area is not conserved."""
    u0 = 0.5 * perturbation(N)
    lap = jax.jit(lambda u: rf.laplacian(u, L))
    h = 1e-7
    for sign, power, check in ((-1, -2, "curvature"), (1, 2, "area")):
        u = u0
        for _ in range(50):
            u = u + h * sign * jnp.exp(power * u) * lap(u)
        if check == "curvature":
            assert jnp.max(jnp.abs(rf.curvature(u, L))) > jnp.max(jnp.abs(rf.curvature(u0, L)))
        else:
            assert abs(float(rf.area(u, L) / rf.area(u0, L)) - 1) > 1e-8


def test_large_steps_stay_stable():
    """No step-size limit: h lambda_1 = 1 (h |k|^2 up to 512 at the grid's corner) still decays."""
    u0 = perturbation(N)
    mu = rf.wave_numbers(N, L)
    rho = [jnp.exp(2 * u0)]
    for _ in range(20):
        rho.append(STEP(rho[-1], 1.0 / LAM, mu))
    sup_k = np.asarray([jnp.max(jnp.abs(rf.curvature(0.5 * jnp.log(r), L))) for r in rho])
    assert np.all(np.isfinite(sup_k)) and sup_k[-1] < 1e-4 * sup_k[0]
    assert abs(float(jnp.mean(rho[-1]) / jnp.mean(rho[0])) - 1) < 1e-13
