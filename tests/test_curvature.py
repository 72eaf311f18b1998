"""Curvature (cygen.curvature), the implicit embedding (cygen.implicit), chi by integration.

Closed forms: P^n with Fubini-Study (Ric = (n+1) pi g, R = n(n+1) pi, constant curvature on
P^1, chi = n+1 exactly), the flat torus, Hermitian symmetries; then chi of every shipped
manifold by Monte-Carlo integration of c_n with no fitted constant (a few in CI, all slow).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled, newton_points

from cygen.compiler.loader import load
from cygen.evaluate.integrals import curvature_summary, euler
from cygen.geometry import curvature as cv
from cygen.geometry import implicit
from cygen.geometry import runtime as rt
from cygen.learn import models
from cygen.learn.runs import Run
from cygen.sampling.sampler import sample


def _module(name):
    return compiled(ROOT / "manifolds" / f"{name}.cy")[1]


@functools.cache
def _linear(n: int):
    """P^n as the hyperplane z_{n+1} = 0 of P^{n+1} (a non-CY module)."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / f"p{n}.cy"
    path.write_text(f"name p{n}\nambient P{n + 1}\neq z{n + 1}\n")
    return load(path, allow_non_cy=True)


@functools.cache
def _fs_curvature(module):
    """jit(vmap(curvature of FS)) over (z, chart), compiled once per module."""
    geo = module.GEOMETRY
    return jax.jit(jax.vmap(lambda z, ch: cv.curvature(None, geo, z, ch)))


@functools.cache
def _newton(module):
    z = newton_points(module, 6, 0)
    return jnp.asarray(z), jax.jit(jax.vmap(module.select_chart))(z)


def _points(module, n=6):
    """n <= 6 points on X (Newton projections, cached per module) and their charts."""
    z, charts = _newton(module)
    return z[:n], charts[:n]


def _chart(module, affine, dependent):
    for i, c in enumerate(module.SPEC["charts"]):
        if c["affine"] == affine and c["dependent"] == dependent:
            return i
    raise AssertionError("no such chart")


# ----------------------------------------------------------------------------- implicit


def test_embedding_closed_form_on_the_cubic_curve():
    """z0 = 1, u = z1, z2^3 = -1 - u^3: z2' = -u^2/z2^2, z2'' = -2u/z2^2 - 2u^4/z2^5."""
    module = _module("torus")
    geo = module.GEOMETRY
    chart = _chart(module, [0], [2])
    u = 0.3 + 0.2j
    z2 = (-1 - u**3) ** (1 / 3)
    z_ref = jnp.array([1, u, z2])
    w = jnp.array([u + 0.01 - 0.02j])  # away from the reference: Newton really runs

    @jax.jit
    def run(w):
        embed = implicit.embed(geo, chart, z_ref)
        d1 = jax.jacfwd(embed, holomorphic=True)
        z = embed(w)
        return z, d1(w), jax.jacfwd(d1, holomorphic=True)(w), implicit.jets(geo, z, chart)

    z, d1, d2, jt = run(w)
    assert abs(z[1] - w[0]) == 0 and abs(z[0] - 1) == 0
    assert abs(z[2] ** 3 + 1 + w[0] ** 3) < 1e-14
    zz, uu = complex(z[2]), complex(w[0])
    d1, d2 = d1[2, 0], d2[2, 0, 0]
    assert abs(d1 - (-(uu**2) / zz**2)) < 1e-13
    assert abs(d2 - (-2 * uu / zz**2 - 2 * uu**4 / zz**5)) < 1e-12
    # the closed-form jets at a point of X agree
    assert abs(jt.pullback[0, 2] - d1) < 1e-13 and abs(jt.second[0, 0, 2] - d2) < 1e-12


@pytest.mark.parametrize("name", ["fermat_quintic",
                                  pytest.param("tian_yau", marks=pytest.mark.slow)])
def test_embedding_derivatives_of_all_orders(name):
    """custom_jvp derivatives = closed-form jets (orders 1, 2) = finite differences (order 3)."""
    module = _module(name)
    geo = module.GEOMETRY
    z, charts = _points(module, 1)
    zi, chart = z[0], charts[0]

    @jax.jit
    def derivatives(u, zi, chart):
        embed = implicit.embed(geo, chart, zi)
        d1 = jax.jacfwd(embed, holomorphic=True)
        d2 = jax.jacfwd(d1, holomorphic=True)
        d3 = jax.jacfwd(d2, holomorphic=True)
        return embed(u), d1(u), d2(u), d3(u), geo.equations(embed(u + 0.01))

    u0 = implicit.free_coordinates(geo, zi, chart)
    z0, d1, d2, d3, residual = derivatives(u0, zi, chart)
    jt = jax.jit(lambda z, c: implicit.jets(geo, z, c))(zi, chart)
    np.testing.assert_allclose(z0, jt.zc, atol=1e-13)
    np.testing.assert_allclose(d1.T, jt.pullback, atol=1e-11)
    np.testing.assert_allclose(jnp.moveaxis(d2, 0, -1), jt.second, atol=1e-10)
    assert float(jnp.max(jnp.abs(residual))) < 1e-12  # p(Z(u)) = 0 away from the reference
    scale = float(jnp.max(jnp.abs(d3)))
    for k in range(u0.shape[0]):
        for h in (1e-4, 1e-4j):  # holomorphic: the same derivative in both directions
            e = jnp.zeros_like(u0).at[k].set(h)
            fd = (derivatives(u0 + e, zi, chart)[2] - derivatives(u0 - e, zi, chart)[2]) / (2 * h)
            np.testing.assert_allclose(fd, d3[..., k], atol=1e-6 * scale)


# ----------------------------------------------------------------------------- closed forms


def test_top_form_normalisation():
    """det(omega_0 1) = omega_0^n = n! vol_0 for omega_0 = (i/2) sum_k du^k ^ dubar^k."""
    for n in (1, 2, 3):
        t = np.einsum("ab,kl->abkl", np.eye(n), np.eye(n)).astype(complex)
        assert abs(jax.jit(cv.top_form)(t) - math.factorial(n)) < 1e-12
        coef = jax.jit(cv.chern_polynomial)(t, 2 * t)  # top((t + 2) omega_0 1) = (t + 2)^n n!
        binom = [math.comb(n, k) * 2**k * math.factorial(n) for k in range(n + 1)]
        np.testing.assert_allclose(coef, binom, atol=1e-10)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fubini_study_on_projective_space(n):
    """Ric = (n+1) pi g (c_1 = (n+1) omega), R = n(n+1) pi, c_k densities n! C(n+1, k)."""
    module = _linear(n)
    z, charts = _points(module, 5)
    c = _fs_curvature(module)(z, charts)
    np.testing.assert_allclose(c.ricci, (n + 1) * np.pi * c.g, atol=1e-12)
    np.testing.assert_allclose(c.scalar, n * (n + 1) * np.pi, rtol=1e-12)
    # c(P^n) = (1 + H)^(n+1) and omega = H: int c_k ^ omega^(n-k) = C(n+1, k); the volume is 1/n!
    expected = [math.comb(n + 1, k) * math.factorial(n) for k in range(1, n + 1)]
    np.testing.assert_allclose(c.chern, np.broadcast_to(expected, c.chern.shape), rtol=1e-11)
    if n == 1:  # constant Gaussian curvature 4 pi of the area-1 sphere: R_{1111} = 2 pi g^2
        np.testing.assert_allclose(c.riemann[:, 0, 0, 0, 0], 2 * np.pi * c.g[:, 0, 0] ** 2,
                                   rtol=1e-12)
    # every chart gives the same scalar (n = 2: charts differ in the affine coordinate)
    valid = [i for i, ch in enumerate(module.SPEC["charts"]) if abs(z[0][ch["affine"][0]]) > 0.1]
    zs = jnp.repeat(z[:1], len(valid), axis=0)
    np.testing.assert_allclose(_fs_curvature(module)(zs, jnp.asarray(valid)).scalar,
                               n * (n + 1) * np.pi, rtol=1e-11)


def test_flat_torus_and_the_implicit_embedding():
    """On the torus, through metric_fn and the exact implicit embedding Z(u):

    g = |Omega|^2 is the flat metric of the elliptic curve (Ric = 0, e = 0), and for g_FS the
    autodiff jet equals the closed-form one.  (One compiled function: mix = 1 is flat, 0 is FS.)
    """
    module = _module("torus")
    geo = module.GEOMETRY
    z, charts = _points(module, 6)

    def metric(mix):
        def fn(z, chart):
            flat = rt.omega_sq(geo, z, chart).astype(complex).reshape(1, 1)
            return mix * flat + (1 - mix) * rt.fs_metric(geo, z, chart)
        return fn

    run = jax.jit(jax.vmap(lambda z, ch, mix: cv.metric_jet(metric(mix), geo, z, ch,
                                                           embedding="implicit"),
                           in_axes=(0, 0, None)))
    flat = jax.vmap(cv.curvature_from_jet)(run(z, charts, 1.0))
    fs = _fs_curvature(module)(z, charts)
    assert float(jnp.max(jnp.abs(flat.ricci))) < 1e-9 * float(jnp.max(jnp.abs(fs.ricci)))
    assert float(jnp.max(jnp.abs(flat.euler))) < 1e-9 * float(jnp.max(jnp.abs(fs.euler)))
    closed = jax.vmap(lambda z, ch: cv.fs_jet(geo, z, ch))(z, charts)
    for a, b in zip(closed, run(z, charts, 0.0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12 * float(jnp.max(jnp.abs(a))))


@pytest.mark.parametrize(("name", "embedding"), [
    pytest.param("fermat_quintic", "tangent", marks=pytest.mark.slow),
    pytest.param("fermat_quintic", "implicit", marks=pytest.mark.slow),
    pytest.param("tian_yau", "tangent", marks=pytest.mark.slow),
    pytest.param("tian_yau", "implicit", marks=pytest.mark.slow)])
def test_fs_closed_form_matches_autodiff(name, embedding):
    """The closed-form FS jet = jacfwd of runtime.fs_metric (tangent and implicit embeddings)."""
    module = _module(name)
    geo = module.GEOMETRY
    z, charts = _points(module, 3)

    def fs(z, chart):
        return rt.fs_metric(geo, z, chart)

    closed = jax.jit(jax.vmap(lambda z, ch: cv.fs_jet(geo, z, ch)))(z, charts)
    auto = jax.jit(jax.vmap(lambda z, ch: cv.autodiff_jet(fs, geo, z, ch, embedding)))(z, charts)
    for a, b in zip(closed, auto, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12 * float(jnp.max(jnp.abs(a))))


def test_curvature_symmetries_and_identities():
    """Hermitian and Kähler symmetries of R; Ric = trace = -dd-bar log det g; d_1 = (n-1)! R/pi."""
    module = _module("fermat_quintic")
    geo = module.GEOMETRY
    z, charts = _points(module, 4)
    c = _fs_curvature(module)(z, charts)
    r = c.riemann
    scale = float(jnp.max(jnp.abs(r)))
    tol = 1e-12 * scale
    np.testing.assert_allclose(jnp.conj(r), jnp.einsum("xijkl->xjilk", r), atol=tol)  # Hermitian
    np.testing.assert_allclose(r, jnp.einsum("xijkl->xkjil", r), atol=tol)  # Kähler: i <-> k
    np.testing.assert_allclose(r, jnp.einsum("xijkl->xilkj", r), atol=tol)  # Kähler: j <-> l

    @jax.jit
    @jax.vmap
    def direct(zi, ch):  # -d_k dbar_l log det g = -tr(g^-1 d dbar g) + tr(g^-1 dg g^-1 dbar g)
        jet = cv.fs_jet(geo, zi, ch)
        gi = jnp.linalg.inv(jet.g)
        dbar = jnp.conj(jnp.swapaxes(jet.dg, 1, 2))  # [l, i, j] = dbar_l g_{i jbar}
        ric = (-jnp.einsum("ji,klij->kl", gi, jet.ddg)
               + jnp.einsum("ab,kbc,cd,lda->kl", gi, jet.dg, gi, dbar))
        return ric, cv.euler_density(None, geo, zi, ch)

    ric, e = direct(z, charts)
    np.testing.assert_allclose(c.ricci, ric, atol=1e-10 * float(jnp.max(jnp.abs(ric))))
    np.testing.assert_allclose(c.chern[:, 0], 2 * c.scalar / np.pi, rtol=1e-10)
    np.testing.assert_allclose(c.euler, c.chern[:, -1])
    np.testing.assert_allclose(e, c.euler, rtol=1e-10)


def test_metric_fn_path_on_k3_kahler_and_not():
    """Through metric_fn on K3: FS equals the closed form; a non-Kähler Hermitian metric keeps
    conj R_{i jbar k lbar} = R_{j ibar l kbar} but loses the Kähler symmetry; FS scalars are
    chart-independent.  (One compiled function: eps = 0 is FS.)"""
    module = _module("k3_quartic")
    geo = module.GEOMETRY
    z, charts = _points(module, 3)

    def skewed(eps):
        def fn(z, chart):  # FS + eps diag(|u_2|^2, |u_1|^2): Hermitian, d omega != 0
            zc = rt.chart_point(geo, z, chart)
            u = zc[jnp.asarray(geo.free)[chart]]
            return rt.fs_metric(geo, z, chart) + eps * jnp.diag(jnp.abs(u[::-1]) ** 2)
        return fn

    run = jax.jit(jax.vmap(lambda z, ch, eps: cv.metric_jet(skewed(eps), geo, z, ch),
                           in_axes=(0, 0, None)))
    closed = jax.jit(jax.vmap(lambda z, ch: cv.fs_jet(geo, z, ch)))(z, charts)
    for a, b in zip(closed, run(z, charts, 0.0), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12 * float(jnp.max(jnp.abs(a))))
    r = jax.vmap(cv.riemann_from_jet)(run(z, charts, 0.3))
    np.testing.assert_allclose(jnp.conj(r), jnp.einsum("xijkl->xjilk", r),
                               atol=1e-12 * float(jnp.max(jnp.abs(r))))
    assert float(jnp.max(jnp.abs(r - jnp.einsum("xijkl->xkjil", r)))) > 1e-3
    # FS scalars do not depend on the chart (Euler density, Ricci scalar)
    zi = z[0]
    jac = np.abs(np.asarray(module.jacobian(zi)))[0]
    others = [i for i, ch in enumerate(module.SPEC["charts"])
              if abs(zi[ch["affine"][0]]) > 0.3 and jac[ch["dependent"][0]] > 0.3 * jac.max()]
    assert len(others) > 1
    vals = _fs_curvature(module)(jnp.repeat(z[:1], len(others), axis=0), jnp.asarray(others))
    np.testing.assert_allclose(vals.euler, vals.euler[0], rtol=1e-8)
    np.testing.assert_allclose(vals.scalar, vals.scalar[0], rtol=1e-8)


def _phi_run(module, init_scale, seed=1):
    """A :class:`Run` of an untrained ``phi`` model (large init: a non-trivial phi)."""
    model = models.make_model(module.GEOMETRY, "phi", init_scale=init_scale)
    params = models.cast(model.init(jax.random.PRNGKey(seed)), np.float64)
    config = {"model": {"name": "phi", "widths": [64, 64, 64], "activation": "gelu",
                        "init_scale": init_scale}}
    return Run(Path("untrained"), config, module, model, params, None)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["torus", "fermat_quintic"])
def test_phi_model_jets_match_autodiff(name):
    """The phi model's own jets (order 2 of the jet engine) = nested forward-mode AD of the
    metric it trains with (order 1 of the same engine)."""
    module = _module(name)
    geo = module.GEOMETRY
    z, charts = _points(module, 3)
    run = _phi_run(module, 1.0)
    assert run.route == "jets:phi"

    @jax.jit
    @jax.vmap
    def both(z, ch):
        return (run.jet(geo, z, ch), cv.autodiff_jet(run.metric_in, geo, z, ch),
                cv.fs_jet(geo, z, ch))

    a, b, fs = both(z, charts)
    for x, y, f in zip(a, b, fs, strict=True):
        scale = float(jnp.max(jnp.abs(y)))
        assert float(jnp.max(jnp.abs(y - f))) > 0.05 * scale  # phi is not negligible
        np.testing.assert_allclose(x, y, atol=1e-12 * scale)


def test_phi_model_jets_match_finite_differences():
    """The phi model's jets on K3 vs central differences of its metric along the tangent line
    (g exactly; d g and d dbar g to O(h^2)); the exact AD comparison is a slow test."""
    module = _module("k3_quartic")
    geo = module.GEOMETRY
    z, charts = _points(module, 2)
    run = _phi_run(module, 1.0)
    h = 2e-4
    eye = np.eye(4)
    # offsets: 0; +-h e_a (first derivatives); h (sa e_a + sb e_b) (second derivatives)
    first = [s * h * eye[a] for a in range(4) for s in (1, -1)]
    pairs = [(a, b, sa, sb) for a in range(4) for b in range(4) for sa in (1, -1)
             for sb in (1, -1)]
    offsets = jnp.asarray([np.zeros(4)] + first
                          + [h * (sa * eye[a] + sb * eye[b]) for a, b, sa, sb in pairs])
    c1 = np.zeros((4, len(offsets)))
    for i, (a, s_) in enumerate((a, s_) for a in range(4) for s_ in (1, -1)):
        c1[a, 1 + i] = s_ / (2 * h)
    c2 = np.zeros((4, 4, len(offsets)))
    for i, (a, b, sa, sb) in enumerate(pairs):
        c2[a, b, 1 + len(first) + i] = sa * sb / (4 * h * h)

    @jax.jit
    @jax.vmap
    def both(zi, ch):
        zc = rt.chart_point(geo, zi, ch)
        p = rt.pullback(geo, zc, ch)
        g = jax.vmap(lambda x: run.metric_in(zc + (x[:2] + 1j * x[2:]) @ p, ch))(offsets)
        d1 = jnp.einsum("ao,oij->aij", c1, g)  # (4, 2, 2) real-direction derivatives
        d2 = jnp.einsum("abo,oij->abij", c2, g)
        dg = 0.5 * (d1[:2] - 1j * d1[2:])
        ddg = 0.25 * (d2[:2, :2] + d2[2:, 2:] + 1j * (d2[:2, 2:] - d2[2:, :2]))
        return run.jet(geo, zi, ch), g[0], dg, ddg

    jet, g0, dg, ddg = both(z, charts)
    np.testing.assert_allclose(jet.g, g0, atol=1e-14)
    np.testing.assert_allclose(jet.dg, dg, atol=1e-5 * float(jnp.max(jnp.abs(dg))))
    np.testing.assert_allclose(jet.ddg, ddg, atol=1e-5 * float(jnp.max(jnp.abs(ddg))))


# ----------------------------------------------------------------------------- integration


def _check_chi(result):
    chi = result["chi_topological"]
    tol = max(0.02 * abs(chi), 3 * result["chi_err"])
    assert abs(result["chi_mc"] - chi) <= tol, result
    assert result["agrees"] and result["nonfinite"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 3])
def test_chi_of_projective_space_is_exact(n):
    result = euler(_linear(n), 512, seed=1)
    assert abs(result["chi_mc"] - (n + 1)) < 1e-10 and result["chi_err"] < 1e-10


@pytest.mark.parametrize(("name", "n"), [
    ("fermat_quintic", 6000), ("torus", 6000), ("k3_quartic", 6000)])
def test_chi_by_integration_ci(name, n):
    _check_chi(euler(_module(name), n, seed=11))


def test_chi_of_a_phi_model_metric_on_the_torus():
    """euler() on a phi model's run takes the model's own jets; chi = 0."""
    module = _module("torus")
    data = sample(module, 6000, seed=11)
    result = euler(_phi_run(module, 0.3, seed=2), data=data)
    assert result["route"] == "jets:phi" and result["n"] == 6000
    assert abs(result["chi_mc"]) <= 3 * result["chi_err"]


def test_curvature_summary_quintic():
    module = _module("fermat_quintic")
    data = sample(module, 6000, seed=11)
    s = curvature_summary(module, data=data)
    assert abs(s["c1_J"]) <= 4 * s["c1_J_err"] and s["c1_J_scale"] > 50 * s["c1_J_err"]
    assert abs(s["chern_numbers"][1] - s["c2_J_topological"]) <= 4 * s["chern_errors"][1]
    assert s["c2_J_topological"] == 50
    assert abs(s["volume_mc"] - 5 / 6) < 1e-12
    assert 0.6 < s["ricci_measure"] < 0.95  # cymetric: ~0.7-0.9 for FS on the quintic
    assert abs(s["ricci_scalar_mean"]) < 4 * s["ricci_scalar_std"] / np.sqrt(6000)
    assert s["chi_mc"] == pytest.approx(euler(module, data=data)["chi_mc"], rel=1e-12)


ALL = [("fermat_quintic", {}), ("dwork_quintic", {}), ("k3_quartic", {}), ("torus", {}),
       ("bicubic_generic", {}), ("tian_yau", {}), ("p5_33", {}), ("schoen", {})]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "params"), ALL, ids=[a for a, _ in ALL])
def test_chi_by_integration_100k(name, params):
    _check_chi(euler(ROOT / "manifolds" / f"{name}.cy", 100_000, seed=1, params=params or None))


@pytest.mark.slow
def test_chi_of_a_generic_kahler_metric_by_autodiff():
    """A non-FS Kähler metric (K = (1/pi) log z^dagger h z, h random) through metric_fn."""
    module = _module("k3_quartic")
    geo = module.GEOMETRY
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    h = jnp.asarray(a @ a.conj().T + np.eye(4))

    def metric(z, chart):
        zc = rt.chart_point(geo, z, chart)
        p = rt.pullback(geo, zc, chart)
        v = h @ zc
        r = jnp.real(jnp.vdot(zc, v))
        amb = (h.T / r - jnp.outer(jnp.conj(v), v) / r**2) / jnp.pi
        return p @ amb @ p.conj().T

    _check_chi(euler(module, 40_000, seed=3, metric_fn=metric))


@pytest.mark.slow
def test_chi_of_a_phi_model_metric():
    """An untrained phi model far from FS (through its own jets) integrates to chi too."""
    module = _module("fermat_quintic")
    run = _phi_run(module, 0.3, seed=2)
    result = euler(run, 40_000, seed=4)
    assert result["route"] == "jets:phi"
    _check_chi(result)
