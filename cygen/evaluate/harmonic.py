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
(docs/moduli.md).  ``network``: a section network (:mod:`cygen.learn.sections`) is then
trained on top of the basis solution with the same objective (:func:`fit_network`); its
sections join the basis with coefficient one, so every reported quantity covers it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

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
from cygen.learn import sections as ls
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

__all__ = ["BATCH", "NETWORK", "RCOND", "TERMS", "Prepared", "basis_groups", "fit", "fit_network",
           "geometry_fn", "harmonic", "local_fn", "metric_fn", "metric_source", "prepare",
           "with_fit_points", "wp_harmonic"]

BATCH = 512  # points per jitted call (the basis makes each point heavy)
RCOND = 1e-10  # eigenvalues of the normal matrix below RCOND * max are its kernel
TERMS = ("metric_covariance", "antisymmetric", "k_variance")  # G_harm - G, see wp_harmonic
NETWORK = {"hidden": (64, 64), "activation": "gelu", "epochs": 200, "lr": 3e-3,
           "patience": 15, "tol": 1e-4, "seed": 0}  # cygen.learn.sections.train


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


class Prepared(NamedTuple):
    """What :func:`harmonic` needs besides the metric, shared by several metrics: fit points,
    independent evaluation points, the metric-free G on the latter, and the compiled
    metric-free pointwise pieces per basis (filled on first use)."""

    fit_data: Dataset
    eval_data: Dataset
    free: dict
    geometry: dict


def _geometric(module, basis: hm.SectionBasis, dirs: np.ndarray, z, chart) -> dict:
    """The metric-free pieces at one point: the chart frame, the KS mu (T, d, d) with its
    d_l and k_a, the sections' dbar and d dbar, div_Omega sigma_I and |Omega|^2."""
    geo = module.GEOMETRY
    zc = rt.chart_point(geo, z, chart)
    p = rt.frame_at(geo, zc, geo.jacobian(zc), chart).pullback

    def mu_at(y):
        return km.ks_point(geo, module.dp_dt, module.d2p_dzdt, y, chart).m[dirs]

    ks = km.ks_point(geo, module.dp_dt, module.d2p_dzdt, zc, chart)
    jet = hm.section_jets(geo, basis, zc, chart)
    return {"zc": zc, "p": p, "m": ks.m[dirs], "dm": hm.holomorphic_derivative(mu_at, zc, p),
            "k": ks.k[dirs], "bc": jet.dbar, "dbc": jet.d_dbar,
            "div": hm.divergence(jet, ks.dlog_f), "dlog_f": ks.dlog_f,
            "omega": rt.omega_sq(geo, zc, chart)}


def _local(metric: Callable, pieces: dict, chart, w) -> dict:
    """The metric's part at one point: mu and B = dbar sigma in a g-orthonormal frame and
    their codifferentials (same frame), beside the metric-free pieces, the weight w and
    eta = det g / |Omega|^2."""
    zc, p = pieces["zc"], pieces["p"]

    def g_at(y):
        return metric(y, chart)

    g = g_at(zc)
    dg = hm.holomorphic_derivative(g_at, zc, p)
    r_mu = hm.codifferential(g, dg, pieces["m"], pieces["dm"])
    r_b = hm.codifferential(g, dg, pieces["bc"], pieces["dbc"])
    c_t = rt.cholesky_small(g).T  # |R|_g^2 = |C^T R|^2
    return {"mu": hm.orthonormal(g, pieces["m"]), "b": hm.orthonormal(g, pieces["bc"]),
            "r_mu": r_mu @ c_t.T, "r_b": r_b @ c_t.T, "m": pieces["m"], "bc": pieces["bc"],
            "k": pieces["k"], "div": pieces["div"], "w": w,
            "eta": jnp.real(rt.det(g)) / pieces["omega"]}


def _flat(x: jax.Array) -> jax.Array:
    """(p, n, d, d) -> (p, n, d d); (p, n, d) unchanged."""
    return x.reshape(*x.shape[:2], math.prod(x.shape[2:]))


def geometry_fn(module, basis: hm.SectionBasis, dirs: np.ndarray) -> Callable:
    """jit(vmap) of the metric-free pointwise pieces, ``(z, chart) -> dict``: the heavy,
    slow-to-compile part, shared by every metric (:class:`Prepared`)."""
    return jax.jit(jax.vmap(partial(_geometric, module, basis, dirs)))


def local_fn(module, metric: Callable, basis: hm.SectionBasis, dirs: np.ndarray,
             geometry: Callable | None = None, extra: Callable | None = None) -> Callable:
    """``(z, chart, w) -> dict``: the pointwise pieces for ``metric`` (``geometry``: a
    :func:`geometry_fn` to reuse), shared by the fit and the evaluation.  ``extra``
    (``(pieces, chart) -> pieces``, batched) appends more sections, e.g. a network's."""
    geometry = geometry or geometry_fn(module, basis, dirs)
    metric_part = metric_fn(metric)

    def local(z, chart, w):
        pieces = geometry(z, chart)
        return metric_part(pieces if extra is None else extra(pieces, chart), chart, w)

    return local


def _net_fit_point(module, metric: Callable, fields: hm.SectionBasis, pieces: dict,
                   c: jax.Array, chart, w) -> ls.FitPoints:
    """One point's :class:`cygen.learn.sections.FitPoints` for the basis solution ``c``."""
    geo = module.GEOMETRY
    zc, p = pieces["zc"], pieces["p"]

    def g_at(y):
        return metric(y, chart)

    g = g_at(zc)
    dg = hm.holomorphic_derivative(g_at, zc, p)
    frame, frame_inv = hm.frame(g)
    beta = pieces["m"] + jnp.einsum("Ia,Iik->aik", c, pieces["bc"])
    d_beta = pieces["dm"] + jnp.einsum("Ia,lIik->laik", c, pieces["dbc"])
    xi = hm.jets(lambda y: hm.sections(geo, fields, y, chart), zc, p)
    return ls.FitPoints(zc, p, *xi, beta, hm.codifferential(g, dg, beta, d_beta), g, dg,
                        frame, frame_inv, w * jnp.real(rt.det(g)) / pieces["omega"])


def _net_sections(module, net: ls.SectionNet, params, pieces: dict, chart) -> dict:
    """``pieces`` with the network's T sections appended to the basis's (their dbar,
    d dbar and div_Omega), so that coefficients [c; I] give eta = mu + dbar(s_c + s_net)."""
    def s_at(y):
        return ls.section(module.GEOMETRY, net, params, y, chart)

    value, d, dbar, d_dbar = hm.jets(s_at, pieces["zc"], pieces["p"])
    jet = hm.SectionJets(value, d, jnp.moveaxis(dbar, 0, -1), jnp.moveaxis(d_dbar, 1, -1))
    return pieces | {"bc": jnp.concatenate([pieces["bc"], jet.dbar]),
                     "dbc": jnp.concatenate([pieces["dbc"], jet.d_dbar], axis=1),
                     "div": jnp.concatenate([pieces["div"], hm.divergence(jet, pieces["dlog_f"])])}


def fit_network(module, metric: Callable, geometry: Callable, c: np.ndarray,
                data: Dataset, options: dict, batch: int = BATCH, progress=None
                ) -> tuple[Callable, np.ndarray, dict]:
    """Train a :mod:`cygen.learn.sections` network on top of the basis solution ``c`` (fit
    points ``data``); returns the ``extra`` of :func:`local_fn` that appends its sections,
    the coefficients [c; I] and the training history."""
    geo = module.GEOMETRY
    t = c.shape[1]
    net = ls.SectionNet(hm.section_basis(geo, 0), t, tuple(options["hidden"]),
                        options.get("activation", "gelu"))
    point = jax.jit(jax.vmap(partial(_net_fit_point, module, metric, net.fields),
                             in_axes=(0, None, 0, 0)))
    cj = jnp.asarray(c)
    tree = (data.points, data.chart, np.asarray(data.weights, float))
    parts = []
    for valid, (z, ch, w) in batching.chunks(tree, batch):
        z, ch = jnp.asarray(z), jnp.asarray(ch)
        parts.append([a[:valid] for a in point(geometry(z, ch), cj, ch, jnp.asarray(w))])
    pts = ls.FitPoints(*(jnp.concatenate(a) for a in zip(*parts, strict=True)))
    params = ls.init(jax.random.PRNGKey(options.get("seed", 0)), geo, net)
    params, history = ls.train(geo, net, params, pts, progress=progress,
                               **{k: options[k] for k in ("objective", "epochs", "lr",
                                                          "patience", "tol") if k in options})
    extra = jax.jit(jax.vmap(partial(_net_sections, module, net, params)))
    return extra, np.vstack([c, np.eye(t)]), history


def metric_fn(metric: Callable) -> Callable:
    """jit(vmap) of the metric's part, ``(geometry pieces, chart, w) -> dict``."""
    return jax.jit(jax.vmap(partial(_local, metric)))


@partial(jax.jit, static_argnames="objective")
def _normal_sums(loc: dict, objective: str) -> dict:
    keys = ("b", "mu") if objective == "norm" else ("r_b", "r_mu")
    v = loc["w"] * loc["eta"]  # dvol_g
    b, mu = _flat(loc[keys[0]]), _flat(loc[keys[1]])
    return {"a": jnp.einsum("p,pIx,pJx->IJ", v, jnp.conj(b), b),
            "b": jnp.einsum("p,pIx,pax->Ia", v, jnp.conj(b), mu), "vol": jnp.sum(v)}


@partial(jax.jit, static_argnames="groups")
def _eval_sums(loc: dict, group: jax.Array, c: jax.Array, groups: int) -> dict:
    """Per-group sums on the evaluation points: the g-norms of eta_h = mu + dbar s and of mu
    and their codifferentials against dvol_g, and the metric-free sums of
    :func:`cygen.evaluate.moduli.estimate` (w, k, kk, t) for the lift zeta + s, whose
    k' = k + div_Omega s and M' = mu + dbar s."""
    w = loc["w"]
    v = w * loc["eta"]
    eta_h = loc["mu"] + jnp.einsum("Ia,pIij->paij", c, loc["b"])
    r_h = loc["r_mu"] + jnp.einsum("Ia,pIi->pai", c, loc["r_b"])
    m_h = loc["m"] + jnp.einsum("Ia,pIij->paij", c, loc["bc"])
    k_h = loc["k"] + loc["div"] @ c
    seg = partial(jax.ops.segment_sum, segment_ids=group, num_segments=groups)
    wk = w[:, None] * k_h

    def gram(x):
        return seg(v[:, None, None] * jnp.einsum("paij,pbij->pab", x, jnp.conj(x)))

    anti = 0.5 * (eta_h - jnp.swapaxes(eta_h, -1, -2))  # antisymmetric part, g-orthonormal
    return {"harm": gram(eta_h), "ks": gram(loc["mu"]),
            "harm_w": seg(w[:, None] * jnp.sum(jnp.abs(eta_h) ** 2, axis=(-2, -1))),
            "anti": seg(w[:, None] * jnp.sum(jnp.abs(anti) ** 2, axis=(-2, -1))),
            "res_harm": seg(v[:, None] * jnp.sum(jnp.abs(r_h) ** 2, axis=-1)),
            "res_ks": seg(v[:, None] * jnp.sum(jnp.abs(loc["r_mu"]) ** 2, axis=-1)),
            "vol": seg(v), "w": seg(w), "k": seg(wk),
            "kk": seg(wk[:, :, None] * jnp.conj(k_h)[:, None, :]),
            "t": seg(w[:, None, None] * km.trace_pairing(m_h))}


def _accumulate(local: Callable, data: Dataset, batch: int, reduce: Callable) -> dict:
    """Sums of ``reduce(pieces, group)`` over batches of ``data`` (padding rows weigh
    nothing); the per-point eta concatenated under ``"eta"``."""
    n = len(data)
    group = (np.arange(n) * em.GROUPS // n).astype(np.int32)
    tree = (data.points, data.chart, np.asarray(data.weights, float), group)
    totals: dict = {}
    eta = []
    for valid, (z, chart, w, g) in batching.chunks(tree, batch):
        w = np.where(np.arange(len(w)) < valid, w, 0.0)
        loc = local(jnp.asarray(z), jnp.asarray(chart), jnp.asarray(w))
        eta.append(np.asarray(loc["eta"])[:valid])
        for key, value in reduce(loc, jnp.asarray(g)).items():
            value = np.asarray(value)
            totals[key] = totals[key] + value if key in totals else value
    totals["eta"] = np.concatenate(eta)
    return totals


def fit(local: Callable, data: Dataset, objective: str = "residual",
        batch: int = BATCH) -> tuple[np.ndarray, dict]:
    """Coefficients c (B, T) on the fit points (``local``: :func:`local_fn`): least squares
    of the codifferential (``objective="residual"``: exact, whatever the points, when the
    harmonic form lies in the span) or of the norm (``"norm"``), and the fit's diagnostics
    (unknowns, rank of the normal matrix, and how much of the objective the sections
    removed per direction)."""
    s = _accumulate(local, data, batch, lambda loc, g: _normal_sums(loc, objective))
    a, b = s["a"], s["b"]
    lam, vec = np.linalg.eigh(a)
    keep = lam > RCOND * max(lam.max(initial=0.0), 1e-300)
    proj = vec[:, keep].conj().T @ b
    c = -vec[:, keep] @ (proj / lam[keep, None])
    removed = np.sum(np.abs(proj) ** 2 / lam[keep, None], axis=0) / s["vol"]
    return c, {"unknowns": int(len(a)), "rank": int(keep.sum()), "objective_removed": removed}


def _ratio(s: dict, key: str) -> np.ndarray:
    return s[key] / s["vol"]


def _relative(s: dict) -> np.ndarray:
    """G_harm / G_free - 1 per direction, both from the same pooled sums."""
    return np.real(np.diag(_ratio(s, "harm"))) / np.real(np.diag(em.estimate(s)[0])) - 1


def _terms(s: dict) -> np.ndarray:
    """(3, T): the exact decomposition of G_harm - G_lift on the sample (diagonal), in the
    Omega-weighted statistics E_w: Cov_w(e^, |eta|^2_g) with e^ = e / E_w[e],
    2 E_w |eta_A|^2 (eta_A the antisymmetric part of eta lowered with g) and Var_w(k')."""
    w = s["w"].real
    cov = np.real(np.diag(s["harm"])) / s["vol"] - s["harm_w"] / w
    mean_k = s["k"] / w
    var = np.real(np.diag(s["kk"])) / w - np.abs(mean_k) ** 2
    return np.stack([cov, 2 * s["anti"] / w, var])


def wp_harmonic(local: Callable, data: Dataset, c: np.ndarray, batch: int = BATCH) -> dict:
    """On the evaluation points, with jackknife errors: G_harm, the KS representatives' own
    norms, the residuals, the metric-free G of the fitted lift zeta + s (the Kodaira-Spencer
    formula E[tr(M' conj M')] - Cov(k') holds for any lift, with M' = mu + dbar s and
    k' = k + div_Omega s) and the relative difference G_harm / G - 1 from the *same* points,
    whose error is far smaller than either's.  On the sample, exactly,

        G_harm - G = Cov_w(e^, |eta|^2_g) + 2 E_w |eta_A|^2 + Var_w(k')

    (``terms``; e = dvol_g / dvol_Omega, eta_A the antisymmetric part of eta lowered with g):
    all three vanish for the harmonic form of a Ricci-flat metric; the first measures the
    metric, the last two also an incomplete harmonic projection.  And the metric's sigma."""
    c = jnp.asarray(c)
    s = _accumulate(local, data, batch, lambda loc, g: _eval_sums(loc, g, c, em.GROUPS))
    eta = s.pop("eta")
    out = {key: em.jackknife(s, partial(_ratio, key=key))
           for key in ("harm", "ks", "res_harm", "res_ks")}
    out["free"] = em.jackknife(s, lambda t: em.estimate(t)[0])
    out["relative"] = em.jackknife(s, _relative)
    out["terms"] = em.jackknife(s, _terms)
    out["sigma"] = sigma(np.asarray(data.weights, float), eta)
    return out


def prepare(module, n_fit: int, n_eval: int, seed: int = 0) -> Prepared:
    """Fit points, independent evaluation points and the metric-free G on the latter: what
    :func:`harmonic` needs besides the metric."""
    data = sample(module, n_eval, seed, purpose="harmonic-eval")
    return Prepared(sample(module, n_fit, seed, purpose="harmonic-fit"), data,
                    em.moduli(module, data=data), {})


def with_fit_points(prepared: Prepared, module, n_fit: int, seed: int = 0) -> Prepared:
    """``prepared`` with ``n_fit`` fit points instead (the same stream as :func:`prepare`),
    keeping its evaluation points, metric-free G and compiled pieces."""
    return prepared._replace(fit_data=sample(module, n_fit, seed, purpose="harmonic-fit"))


def harmonic(module, metric: Callable, *, n_fit: int = 20_000, n_eval: int = 20_000,
             seed: int = 0, degree: int = 1, symmetric: bool = True,
             objective: str = "residual", batch: int = BATCH,
             prepared: Prepared | None = None, network: dict | None = None,
             progress=None) -> dict:
    """The harmonic Weil-Petersson metric of every deformation of ``module`` (its dp_dt
    directions) for ``metric(z, chart) -> g_{i jbar}``, beside the metric-free one.
    ``prepared``: :func:`prepare`'s points, metric-free G and compiled pieces, shared by
    several metrics.  ``network``: also train a section network (options over
    :data:`NETWORK`) on top of the basis solution (:func:`fit_network`)."""
    if n_fit < 1 or n_eval < 1:
        raise CygenError("harmonic needs at least one fit and one evaluation point")
    if objective not in ("residual", "norm"):
        raise CygenError(f"unknown objective {objective!r} (residual or norm)")
    prepared = prepared or prepare(module, n_fit, n_eval, seed)
    fit_data, data, free = prepared.fit_data, prepared.eval_data, prepared.free
    t = len(free["wp_metric"]["re"])
    acc = {key: np.zeros((t, t), complex) for key in ("harm", "ks", "free")}
    err = {key: np.zeros((t, t)) for key in ("harm", "free")}
    vec = {key: np.zeros(t) for key in ("relative", "relative_err", "res", "res_err", "res_ks")}
    terms, terms_err = np.zeros((3, t)), np.zeros((3, t))
    fits, sig = [], None
    for i, (dirs, basis) in enumerate(basis_groups(module, degree, symmetric)):
        key = (degree, symmetric, i)
        if key not in prepared.geometry:
            prepared.geometry[key] = geometry_fn(module, basis, dirs)
        local = local_fn(module, metric, basis, dirs, prepared.geometry[key])
        c, diag = fit(local, fit_data, objective, batch)
        if network is not None:
            options = NETWORK | {"objective": objective} | network
            extra, c, history = fit_network(module, metric, prepared.geometry[key], c,
                                            fit_data, options, batch, progress)
            local = local_fn(module, metric, basis, dirs, prepared.geometry[key], extra)
            diag["network"] = history
        ev = wp_harmonic(local, data, c, batch)
        ix = np.ix_(dirs, dirs)
        for key in acc:
            acc[key][ix] = ev[key][0]
        for key in err:
            err[key][ix] = ev[key][1]
        vec["relative"][dirs], vec["relative_err"][dirs] = ev["relative"]
        vec["res"][dirs], vec["res_err"][dirs] = ev["res_harm"]
        vec["res_ks"][dirs] = ev["res_ks"][0]
        terms[:, dirs], terms_err[:, dirs] = ev["terms"]
        sig = ev["sigma"]
        fits.append({"directions": dirs.tolist(), **diag,
                     "objective_removed": diag["objective_removed"].tolist()})
    diag_h, diag_ks = np.real(np.diag(acc["harm"])), np.real(np.diag(acc["ks"]))
    return {
        "wp_metric_harmonic": _complex(acc["harm"]), "wp_metric_harmonic_err": err["harm"].tolist(),
        "wp_metric_ks_norm": _complex(acc["ks"]),
        "wp_metric": free["wp_metric"], "wp_metric_err": free["wp_metric_err"],
        "wp_metric_harmonic_lift": _complex(acc["free"]),
        "wp_metric_harmonic_lift_err": err["free"].tolist(),
        "relative_difference": vec["relative"].tolist(),
        "relative_difference_err": vec["relative_err"].tolist(),
        "difference_terms": {name: terms[i].tolist() for i, name in enumerate(TERMS)},
        "difference_terms_err": {name: terms_err[i].tolist() for i, name in enumerate(TERMS)},
        "residual": (vec["res"] / diag_h).tolist(),
        "residual_err": (vec["res_err"] / diag_h).tolist(),
        "residual_ks": (vec["res_ks"] / diag_ks).tolist(),
        "sigma": sig, "degree": degree, "symmetric": symmetric, "objective": objective,
        "sections": "basis" if network is None else "basis+network",
        "fit_points": len(fit_data), "eval_points": len(data), "seed": seed, "groups": fits,
    }


def _complex(m: np.ndarray) -> dict:
    return {"re": m.real.tolist(), "im": m.imag.tolist()}


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
