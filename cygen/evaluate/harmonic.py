"""Harmonic representatives of Kodaira-Spencer classes for a given metric, and the
Weil-Petersson metric they give (``cygen harmonic``).

For each deformation a, eta_a = mu_a + dbar s_a with mu_a the metric-free representative
of :mod:`cygen.geometry.moduli` and s_a = sum_I c_Ia sigma_I in the section basis of
:mod:`cygen.geometry.harmonic`.  The harmonic representative is the one of least L^2(g)
norm in the class, so c solves the normal equations of

    min_c  sum_a int_X |mu_a + sum_I c_Ia dbar sigma_I|_g^2 dvol_g,

accumulated on *fit* points (Monte-Carlo weights times det g / |Omega|^2) and solved by a
pseudo-inverse (the holomorphic vector fields and the Euler field are in its kernel).  On an
independent *evaluation* sample (another random stream):

    G_harm_{a bbar} = int <eta_a, eta_b>_g dvol_g / Vol_g,

with jackknife errors, next to the metric-free G of :func:`cygen.evaluate.moduli.moduli` on
the same evaluation points.  For a Ricci-flat metric the two agree (|Omega|^2_g is constant
and the harmonic eta_a contracted with Omega is the harmonic (2,1)-form); their relative
difference measures how far the metric is from Ricci-flat *for this coupling*.

Phase symmetries: a deformation of charge rho couples only to sections of charge rho when
the metric is symmetric (FS, balanced metrics of symmetric data); ``symmetric=True`` keeps
only those (fewer unknowns, no sampling noise from the rest).  ``degree`` is the degree k of
the coefficient functions; degree k contains degree k - 1, so G_harm decreases (up to
sampling noise) as k grows, and its change from k - 1 to k is the stopping rule
(docs/moduli.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cygen.core.errors import CygenError
from cygen.evaluate import moduli as em
from cygen.geometry import batching
from cygen.geometry import harmonic as hm
from cygen.geometry import moduli as km
from cygen.geometry import runtime as rt
from cygen.geometry.measure import sigma
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

__all__ = ["BATCH", "RCOND", "basis_groups", "fit", "harmonic", "metric_source", "prepare",
           "wp_harmonic"]

BATCH = 512  # points per jitted call (the basis makes each point heavy)
RCOND = 1e-10  # eigenvalues of the normal matrix below RCOND * max are its kernel


def basis_groups(module, degree: int, symmetric: bool = True
                 ) -> list[tuple[np.ndarray, hm.SectionBasis]]:
    """[(directions, basis)]: the deformations grouped by phase charge, each with the basis
    elements of its charge (one group with the whole basis when ``symmetric`` is False or
    the manifold has no phase symmetries)."""
    basis = hm.section_basis(module.GEOMETRY, degree)
    directions = np.asarray(module.dp_dt(jnp.zeros(len(module.GEOMETRY.factor_of),
                                                   complex))).shape[0]
    gens = module.SPEC.get("symmetry_phase_generators") or []
    if not symmetric or not gens:
        return [(np.arange(directions), basis)]
    rho, _, order = em.phase_charges(module)
    charge = hm.charges(basis, np.asarray(gens), order)  # (B, generators)
    groups = []
    for key in sorted({tuple(col) for col in rho.T}):
        dirs = np.flatnonzero(np.all(rho.T == np.asarray(key), axis=1))
        groups.append((dirs, basis.subset(np.all(charge == np.asarray(key), axis=1))))
    return groups


def _local(module, metric: Callable, basis: hm.SectionBasis, dirs: np.ndarray, z, chart, w):
    """The pieces at one point, in a g-orthonormal frame and weighted by sqrt(v),
    v = w det g / |Omega|^2 (so that sums are integrals against dvol_g): mu~ (T, d, d),
    B~ = dbar sigma~ (B, d, d), their codifferentials (T, d) and (B, d); v and
    eta = det g / |Omega|^2."""
    geo = module.GEOMETRY
    zc = rt.chart_point(geo, z, chart)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), chart).pullback

    def mu_at(y):
        return km.ks_point(geo, module.dp_dt, module.d2p_dzdt, y, chart).m[dirs]

    def b_at(y):
        return hm.dbar_sections(geo, basis, y, chart)

    def g_at(y):
        return metric(y, chart)

    g, mu, b = g_at(zc), mu_at(zc), b_at(zc)
    dg = hm.holomorphic_derivative(g_at, zc, p)
    r_mu = hm.codifferential(g, dg, mu, hm.holomorphic_derivative(mu_at, zc, p))
    r_b = hm.codifferential(g, dg, b, hm.holomorphic_derivative(b_at, zc, p))
    eta = jnp.real(rt.det(g)) / rt.omega_sq(geo, zc, chart)
    root = jnp.sqrt(w * eta)
    c_t = rt.cholesky_small(g).T  # |R|_g^2 = |C^T R|^2
    return {"mu": hm.orthonormal(g, mu) * root, "b": hm.orthonormal(g, b) * root,
            "r_mu": (r_mu @ c_t.T) * root, "r_b": (r_b @ c_t.T) * root,
            "v": w * eta, "eta": eta}


def _flat(x: jax.Array) -> jax.Array:
    """(p, n, d, d) -> (p, n, d d); (p, n, d) unchanged."""
    return x.reshape(*x.shape[:2], math.prod(x.shape[2:]))


def _normal_fn(module, metric, basis, dirs, objective: str):
    point = jax.vmap(partial(_local, module, metric, basis, dirs))
    keys = ("b", "mu") if objective == "norm" else ("r_b", "r_mu")

    def sums(z, chart, w):
        loc = point(z, chart, w)
        b, mu = _flat(loc[keys[0]]), _flat(loc[keys[1]])
        return {"a": jnp.einsum("pIx,pJx->IJ", jnp.conj(b), b),
                "b": jnp.einsum("pIx,pax->Ia", jnp.conj(b), mu),
                "vol": jnp.sum(loc["v"])}

    return jax.jit(sums)


def _eval_fn(module, metric, basis, dirs, groups: int):
    point = jax.vmap(partial(_local, module, metric, basis, dirs))

    def sums(z, chart, w, group, c):
        loc = point(z, chart, w)
        eta_h = loc["mu"] + jnp.einsum("Ia,pIij->paij", c, loc["b"])
        r_h = loc["r_mu"] + jnp.einsum("Ia,pIi->pai", c, loc["r_b"])
        seg = partial(jax.ops.segment_sum, segment_ids=group, num_segments=groups)
        return {"harm": seg(jnp.einsum("paij,pbij->pab", eta_h, jnp.conj(eta_h))),
                "ks": seg(jnp.einsum("paij,pbij->pab", loc["mu"], jnp.conj(loc["mu"]))),
                "res_harm": seg(jnp.sum(jnp.abs(r_h) ** 2, axis=-1)),
                "res_ks": seg(jnp.sum(jnp.abs(loc["r_mu"]) ** 2, axis=-1)),
                "vol": seg(loc["v"]), "eta": loc["eta"]}

    return jax.jit(sums)


def _accumulate(fn, data: Dataset, batch: int, *extra) -> dict:
    """Sums of ``fn``'s outputs over batches of ``data``; ``eta`` (per point) concatenated."""
    n = len(data)
    group = (np.arange(n) * em.GROUPS // n).astype(np.int32)
    tree = (data.points, data.chart, np.asarray(data.weights, float), group)
    totals: dict = {}
    eta = []
    for valid, (z, chart, w, g) in batching.chunks(tree, batch):
        w = np.where(np.arange(len(w)) < valid, w, 0.0)
        args = (z, chart, w, g) if extra else (z, chart, w)
        out = {k: np.asarray(v) for k, v in fn(*map(jnp.asarray, args), *extra).items()}
        if "eta" in out:
            eta.append(out.pop("eta")[:valid])
        for key, value in out.items():
            totals[key] = totals[key] + value if key in totals else value
    if eta:
        totals["eta"] = np.concatenate(eta)
    return totals


def fit(module, metric: Callable, data: Dataset, basis: hm.SectionBasis, dirs: np.ndarray,
        objective: str = "residual", batch: int = BATCH) -> tuple[np.ndarray, dict]:
    """Coefficients c (B, T) on the fit points: least squares of the codifferential
    (``objective="residual"``: exact, whatever the points, when the harmonic form lies in the
    span) or of the norm (``"norm"``), and the fit's diagnostics (unknowns, rank of the
    normal matrix, and how much of the objective the sections removed per direction)."""
    s = _accumulate(_normal_fn(module, metric, basis, dirs, objective), data, batch)
    a, b = s["a"], s["b"]
    lam, vec = np.linalg.eigh(a)
    keep = lam > RCOND * max(lam.max(initial=0.0), 1e-300)
    proj = vec[:, keep].conj().T @ b
    c = -vec[:, keep] @ (proj / lam[keep, None])
    removed = np.sum(np.abs(proj) ** 2 / lam[keep, None], axis=0) / s["vol"]
    return c, {"unknowns": int(len(a)), "rank": int(keep.sum()), "objective_removed": removed}


def wp_harmonic(module, metric: Callable, data: Dataset, basis: hm.SectionBasis,
                dirs: np.ndarray, c: np.ndarray, batch: int = BATCH) -> dict:
    """G_harm and the KS representatives' own norms on the evaluation points, with jackknife
    errors, and the metric's sigma there."""
    s = _accumulate(_eval_fn(module, metric, basis, dirs, em.GROUPS), data, batch,
                    jnp.asarray(c))
    out = {}
    for key in ("harm", "ks", "res_harm", "res_ks"):
        total, vol = s[key].sum(0), s["vol"].sum()
        extra = (slice(None),) + (None,) * (total.ndim)
        leave = (total[None] - s[key]) / (vol - s["vol"])[extra]
        spread = leave - leave.mean(0)
        k = len(s["vol"])
        err = np.sqrt((k - 1) / k * np.sum(np.abs(spread) ** 2, axis=0))
        out[key] = (total / vol, err)
    out["sigma"] = sigma(np.asarray(data.weights, float), s["eta"])
    return out


def prepare(module, n_fit: int, n_eval: int, seed: int = 0) -> tuple[Dataset, Dataset, dict]:
    """Fit points, independent evaluation points and the metric-free G on the latter: what
    :func:`harmonic` needs besides the metric."""
    data = sample(module, n_eval, seed, purpose="harmonic-eval")
    return (sample(module, n_fit, seed, purpose="harmonic-fit"), data,
            em.moduli(module, data=data))


def harmonic(module, metric: Callable, *, n_fit: int = 20_000, n_eval: int = 20_000,
             seed: int = 0, degree: int = 1, symmetric: bool = True,
             objective: str = "residual", batch: int = BATCH,
             prepared: tuple[Dataset, Dataset, dict] | None = None) -> dict:
    """The harmonic Weil-Petersson metric of every deformation of ``module`` (its dp_dt
    directions) for ``metric(z, chart) -> g_{i jbar}``, beside the metric-free one.
    ``prepared``: :func:`prepare`'s points and metric-free G, shared by several metrics."""
    if n_fit < 1 or n_eval < 1:
        raise CygenError("harmonic needs at least one fit and one evaluation point")
    if objective not in ("residual", "norm"):
        raise CygenError(f"unknown objective {objective!r} (residual or norm)")
    fit_data, data, free = prepared or prepare(module, n_fit, n_eval, seed)
    t = len(free["wp_metric"]["re"])
    g_h, g_ks = np.zeros((t, t), complex), np.zeros((t, t), complex)
    g_h_err = np.zeros((t, t))
    res, res_err, res_ks = np.zeros(t), np.zeros(t), np.zeros(t)
    fits, sig = [], None
    for dirs, basis in basis_groups(module, degree, symmetric):
        c, diag = fit(module, metric, fit_data, basis, dirs, objective, batch)
        ev = wp_harmonic(module, metric, data, basis, dirs, c, batch)
        ix = np.ix_(dirs, dirs)
        g_h[ix], g_h_err[ix], g_ks[ix] = ev["harm"][0], ev["harm"][1], ev["ks"][0]
        res[dirs], res_err[dirs], res_ks[dirs] = ev["res_harm"][0], ev["res_harm"][1], \
            ev["res_ks"][0]
        sig = ev["sigma"]
        fits.append({"directions": dirs.tolist(), **diag,
                     "objective_removed": diag["objective_removed"].tolist()})
    g = np.asarray(free["wp_metric"]["re"]) + 1j * np.asarray(free["wp_metric"]["im"])
    diag_h, diag_g = np.real(np.diag(g_h)), np.real(np.diag(g))
    return {
        "wp_metric_harmonic": {"re": g_h.real.tolist(), "im": g_h.imag.tolist()},
        "wp_metric_harmonic_err": g_h_err.tolist(),
        "wp_metric_ks_norm": {"re": g_ks.real.tolist(), "im": g_ks.imag.tolist()},
        "wp_metric": free["wp_metric"], "wp_metric_err": free["wp_metric_err"],
        "relative_difference": (diag_h / diag_g - 1).tolist(),
        "residual": (res / np.real(np.diag(g_h))).tolist(),
        "residual_err": (res_err / np.real(np.diag(g_h))).tolist(),
        "residual_ks": (res_ks / np.real(np.diag(g_ks))).tolist(),
        "sigma": sig, "degree": degree, "symmetric": symmetric, "objective": objective,
        "fit_points": len(fit_data), "eval_points": len(data), "seed": seed, "groups": fits,
    }


def metric_source(source, params=None, deformations: str = "declared"
                  ) -> tuple[object, Callable, str]:
    """(module, metric, label) for a ``.cy`` file (its Fubini-Study metric) or a run
    directory (its trained network or balanced metric, on the run's own manifold)."""
    from pathlib import Path

    from cygen.compiler.loader import as_module
    from cygen.learn.runs import load_run

    if isinstance(source, str | Path) and Path(source).is_dir():
        if params:
            raise CygenError("--param cannot move a trained run's manifold: its metric "
                             "belongs to the parameters it was trained at", filename=str(source))
        if deformations != "declared":
            raise CygenError("--deformations all needs a .cy file: a run carries its compiled "
                             "module with the declared parameters only", filename=str(source))
        run = load_run(source)
        return run.module, run.metric_in, f"run {Path(source).name} ({run.model.name})"
    module = as_module(source, params, deformations=deformations)
    return module, partial(rt.fs_metric, module.GEOMETRY), "Fubini-Study"
