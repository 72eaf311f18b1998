"""Loss terms and validation measures for metric training (single point; vmap outside).

Terms (weights alpha in the run's config, each logged separately):

``sigma``
    Monge-Ampère: eta = det g / |Omega|^2, loss = sum w |1 - eta/eta_bar| / sum w with
    eta_bar = sum w eta / sum w under ``stop_gradient`` (cymetric's convention).  On a
    validation set it is exactly :func:`cygen.measure.sigma` (float64).
``kahler``
    Kählerity: A_{i jbar k} = d_k g_{i jbar} - d_i g_{k jbar}, the derivatives in the chart
    coordinates u by forward-mode autodiff through :func:`cygen.models.lift`; the residual
    is ||A||_F (``model.residuals == "absolute"``) or, by default, the Frobenius norm of the
    Chern torsion A_{i jbar k} g^{jbar l}, which does not change when g is rescaled;
    weighted mean over the batch.
``transition``
    Patch matching, T = ``runtime.transition(z, a, b)``, a the point's chart and b =
    :func:`second_chart`: ||g_b - T g_a T^dagger||_F ("absolute") or, by default,
    ||g_b^-1 T g_a T^dagger - 1||_F ("relative"); weighted mean.  Absolute residuals scale
    with g, and an ``ldl`` network lowers them by squashing g (one eigenvalue to 0, one
    huge) until the metric degenerates; relative ones cannot be lowered that way.
``volume``
    Kähler class: for each factor a the slope s_a = int_X J^(n-1) ^ J_a, with J_a the unit FS
    form of factor a, must equal its value for the class sum_b t_b H_b from the intersection
    numbers.  J^(n-1) ^ K / (n-1)! = det g tr(g^-1 k) vol_0, and int F vol_0 = E[w F/|Omega|^2]
    (the sample weights are |Omega|^2 / density), so
    s_a = (n-1)! mean(w det g tr(g^-1 g_a) / |Omega|^2); loss = mean_a |log(s_a / target_a)|
    (= |s_a/target_a - 1| to first order; the logarithm keeps its gradient from vanishing as
    the metric shrinks, which otherwise lets kahler and transition collapse g to 0).
    On a curve (n = 1) the slopes do not depend on g, and the single "slope" is int J.
``ricci``
    Ricci scalar R = tr(g^-1 Ric), Ric_{i jbar} = -d_i dbar_j log det g (autodiff through
    the lift; fourth derivatives of a phi network); loss = weighted mean |R|.
``dirichlet``
    The weighted Dirichlet energy of the dilaton f = log(det g / |Omega|^2):
    D = int |grad f|^2 e^-f dV / int e^-f dV, with e^-f dV proportional to |Omega|^2, so
    D = sum w |grad f|^2 / sum w (the Riemannian norm of :mod:`cygen.geometry.riemannian`,
    first derivatives of log det g: third derivatives of a phi network).  Zero exactly when
    eta is constant (Ricci-flat), positive otherwise; the non-degenerate part of Perelman's F.
``flow``
    The Kähler–Ricci flow, one implicit (backward) Euler step at a time (``phi`` only):
    r = phi - phi_k - dt log(eta / eta_bar), loss = sum w r^2 / sum w, with phi_k the
    potential at the start of the step (:func:`flow_anchor`, stored by the trainer) and eta,
    eta_bar those of the current parameters (eta_bar a batch constant).  Its minimiser is
    phi_{k+1} = phi_k + dt log(eta_{k+1}/eta_bar): stable for any dt (docs/training.md).
``perelman``
    Perelman's F = int (R + |grad f|^2) e^-f dV / int e^-f dV with e^-f dV pinned to
    |Omega|^2 (R the Levi-Civita scalar curvature, second derivatives of g).  On a Kähler
    metric R = -Delta f pointwise and F vanishes identically (docs/training.md, "Perelman's
    entropy"), so the config refuses it for ``phi``; for ``ldl``, ``add``, ``mult`` it is a
    signed loss (not bounded below: F scales like 1/g).

Every loss is of the form "batch constants (eta_bar, the slopes) then a weighted sum over
points", so a large batch can be split into micro-batches whose gradients add up exactly
(:func:`objective` takes the constants as an argument).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import batching, measure, riemannian
from cygen.geometry import runtime as rt
from cygen.geometry.local import lift, local, wirtinger
from cygen.learn.models import Model, Params, cast

RESIDUAL_TERMS = ("kahler", "transition", "ricci")  # trained as mean |r|^p (config loss_power)

SIGNED_TERMS = ("dirichlet", "perelman")  # trained as the weighted mean itself
TERMS = ("sigma", "kahler", "transition", "volume", "ricci", *SIGNED_TERMS, "flow")
LIFTED_TERMS = ("kahler", "ricci", *SIGNED_TERMS)  # derivatives along the chart: zc, chart
CONSTANT_TERMS = ("sigma", "volume")  # terms whose batch constants need a forward pass


class Point(NamedTuple):
    """Parameter-free data of one point; fields a run does not need are ``None``."""

    inputs: Any  # model.inputs(local) in the point's chart
    weight: jax.Array  # |Omega|^2 / sampling density
    omega_sq: jax.Array  # |Omega|^2 in the point's chart
    eta_fs: jax.Array  # det g_FS / |Omega|^2 (for sigma of FS on the same points)
    zc: jax.Array | None = None  # LIFTED_TERMS: the point in its chart's frame
    chart: jax.Array | None = None
    factors: jax.Array | None = None  # volume: (m, dim, dim) unit FS metric of each factor
    inputs_b: Any = None  # transition: model inputs in the second chart
    transition: jax.Array | None = None  # transition: T = transition(z, chart, chart_b)
    target: jax.Array | None = None  # flow: phi at the step's start (set by the trainer)
    step: jax.Array | None = None  # flow: the step dt (set by the trainer)


# ----------------------------------------------------------------------------- point data


def second_chart(geo: rt.Geometry, z: jax.Array) -> jax.Array:
    """A second chart valid at ``z``: in the factor whose second-largest |z_i| is largest, that
    coordinate becomes affine (the other factors keep theirs); the dependent set is the one
    with the largest |minor| there (as :func:`cygen.runtime.select_chart` does)."""
    z = rt.normalize(geo, z)
    firsts, seconds, sizes = [], [], []
    for o, s in zip(geo.offsets, geo.factor_sizes, strict=True):
        mags = jnp.abs(z[o : o + s])
        first = jnp.argmax(mags)
        second = jnp.argmax(jnp.where(jnp.arange(s) == first, -1.0, mags))
        firsts.append(first)
        seconds.append(second)
        sizes.append(mags[second])
    lookup = jnp.asarray(geo.lookup)
    charts = []
    for f, (o, s) in enumerate(zip(geo.offsets, geo.factor_sizes, strict=True)):
        combo = 0
        for a, size in enumerate(geo.factor_sizes):
            combo = combo * size + (seconds[a] if a == f else firsts[a])
        scale = jnp.ones(len(geo.factor_of), z.dtype).at[o : o + s].set(z[o + seconds[f]])
        jac = geo.jacobian(z / scale)
        minors = jnp.abs(rt.det(jnp.moveaxis(jac[:, geo.dependent_sets], 1, 0)))
        row = lookup[combo]
        charts.append(row[jnp.argmax(jnp.where(row >= 0, minors, -1.0))])
    return jnp.stack(charts)[jnp.argmax(jnp.stack(sizes))]


def point_data(model: Model, geo: rt.Geometry, terms: Sequence[str], z: jax.Array,
               weight: jax.Array, chart: jax.Array, omega_sq: jax.Array) -> Point:
    """Everything the enabled ``terms`` need at one point (float64), from what the sampler
    stored: the normalised point, its weight, its chart (:func:`cygen.geometry.runtime.
    select_chart`) and |Omega|^2 there; only the frame (pullback, FS metric) is recomputed,
    as it is not stored (it is larger than the point)."""
    loc = local(geo, z, chart)
    pt = Point(model.inputs(loc), weight, omega_sq, _det(loc.g_fs) / omega_sq)
    if set(terms) & set(LIFTED_TERMS):
        pt = pt._replace(zc=loc.zc, chart=chart)
    if "volume" in terms:
        pt = pt._replace(factors=measure.factor_metrics(geo, rt.frame(geo, z, chart)))
    if "transition" in terms:
        b = second_chart(geo, z)
        pt = pt._replace(inputs_b=model.inputs(local(geo, z, b)),
                         transition=rt.transition(geo, z, chart, b))
    return pt


def prepare(model: Model, geo: rt.Geometry, terms: Sequence[str], data, *,
            dtype=jnp.float64, chunk: int = 4096) -> Point:
    """Batched :class:`Point` (numpy arrays, cast to ``dtype``) for the points of ``data``
    (anything with ``points``, ``weights``, ``chart`` and ``omega_sq``: a Dataset, or
    row views of one).  Computed in float64 in chunks of exactly ``chunk`` points
    (:func:`cygen.geometry.batching.padded_map`), so one compiled function serves any size.
    """
    fn = _prepare_fn(model, geo, tuple(sorted(terms)))
    arrays = (data.points, data.weights, data.chart, data.omega_sq)
    return batching.padded_map(lambda b: cast(fn(*b), dtype), arrays, chunk)


_PREPARE_CACHE: dict = {}


def _prepare_fn(model, geo, terms):
    key = (id(model.inputs), id(geo), terms)
    if key not in _PREPARE_CACHE:
        if len(_PREPARE_CACHE) > 16:
            _PREPARE_CACHE.clear()
        fn = jax.jit(jax.vmap(lambda z, w, c, o: point_data(model, geo, terms, z, w, c, o)))
        _PREPARE_CACHE[key] = (model, geo, fn)  # model and geo kept alive: ids stay unique
    return _PREPARE_CACHE[key][2]


# ----------------------------------------------------------------------------- per point


def frobenius(m: jax.Array) -> jax.Array:
    """||m||_F with a zero (not NaN) gradient at m = 0."""
    s = jnp.sum(jnp.abs(m) ** 2)
    positive = s > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)


def _det(g: jax.Array) -> jax.Array:
    return jnp.real(rt.det(g))


def kahler_residual(model: Model, geo: rt.Geometry, params: Params, zc: jax.Array,
                     chart) -> jax.Array:
    """||d_k g_{i jbar} - d_i g_{k jbar}||_F at one point, derivatives in chart coordinates."""
    dim = model.dim

    def g_of(t):
        return model.metric(params, lift(geo, zc, chart, t))

    jac, g = jax.jacfwd(lambda t: (g_of(t),) * 2, has_aux=True)(jnp.zeros(2 * dim, zc.real.dtype))
    dg = 0.5 * (jac[..., :dim] - 1j * jac[..., dim:])  # dg[i, j, k] = d_k g_{i jbar}
    antisym = dg - jnp.swapaxes(dg, 0, 2)
    if model.residuals == "relative":  # the Chern torsion T^l_{ik} = g^{jbar l} (...)_{i jbar k}
        antisym = jnp.einsum("ijk,jl->ilk", antisym, rt.solve_small(g, jnp.eye(dim, dtype=g.dtype)))
    return frobenius(antisym)


def ricci_scalar(model: Model, geo: rt.Geometry, params: Params, zc: jax.Array,
                 chart) -> jax.Array:
    """R = tr(g^-1 Ric), Ric = -d dbar log det g, by autodiff in the chart coordinates."""
    dim = model.dim

    def logdet(t):
        return jnp.log(_det(model.metric(params, lift(geo, zc, chart, t))))

    t0 = jnp.zeros(2 * dim, zc.real.dtype)
    ric = -wirtinger(jax.hessian(logdet)(t0), dim)
    g = model.metric(params, lift(geo, zc, chart, t0))
    return jnp.real(jnp.trace(rt.solve_small(g, ric)))


def perelman_density(model: Model, geo: rt.Geometry, params: Params, zc: jax.Array, chart,
                     curvature: bool = True) -> dict[str, jax.Array]:
    """At one point: |grad f|^2 (``grad_sq``) for the dilaton f = log det g - log |Omega|^2,
    and with ``curvature`` the Levi-Civita scalar curvature R and Delta f (``scalar``,
    ``laplacian``), all Riemannian (:mod:`cygen.geometry.riemannian`), derivatives along the
    chart coordinates by autodiff through :func:`cygen.geometry.local.lift`."""
    def metric(t):
        return model.metric(params, lift(geo, zc, chart, t))

    def dilaton(t):  # log(det g / |Omega|^2) along the lift
        loc = lift(geo, zc, chart, t)
        return jnp.log(_det(model.metric(params, loc)) / rt.omega_sq(geo, loc.zc, chart))

    t0 = jnp.zeros(2 * model.dim, zc.real.dtype)
    jet = riemannian.function_jet(dilaton, t0, hessian=curvature)
    out = {"grad_sq": riemannian.gradient_norm(metric(t0), jet)}
    if curvature:
        out["scalar"] = riemannian.scalar_curvature(metric, t0)
        out["laplacian"] = riemannian.laplacian(metric, t0, jet)
    return out


def point_stats(model: Model, geo: rt.Geometry, terms: Sequence[str], params: Params,
                pt: Point) -> dict[str, jax.Array]:
    """Per-point statistics of the enabled ``terms``; ``eta`` always."""
    g = model.apply(params, pt.inputs)
    det = _det(g)
    out = {"eta": det / pt.omega_sq}
    if "volume" in terms:
        n = model.dim
        if n == 1:  # a curve: int J^0 ^ J_a does not see g; the class is int J itself
            out["slopes"] = (det / pt.omega_sq)[None]
        else:
            tr = jnp.real(jnp.trace(jax.vmap(lambda k: rt.solve_small(g, k))(pt.factors), axis1=1,
                                   axis2=2))
            out["slopes"] = math.factorial(n - 1) * det * tr / pt.omega_sq
    if "kahler" in terms:
        out["kahler"] = kahler_residual(model, geo, params, pt.zc, pt.chart)
    if "transition" in terms:
        gb = model.apply(params, pt.inputs_b)
        t = pt.transition
        pushed = t @ g @ t.conj().T
        if model.residuals == "relative":  # g_b^-1 (T g_a T^dagger) - 1: invariant under
            # g -> A g A^dagger, so shrinking or squashing g cannot lower it
            out["transition"] = frobenius(rt.solve_small(gb, pushed) - jnp.eye(model.dim))
        else:
            out["transition"] = frobenius(gb - pushed)
    if "ricci" in terms:
        out["ricci"] = ricci_scalar(model, geo, params, pt.zc, pt.chart)
    if "flow" in terms:  # the step's residual is completed in objective (eta_bar)
        out["flow_phi"] = model.potential(params, pt.inputs) - pt.target
        out["flow_dt"] = pt.step
    if "dirichlet" in terms or "perelman" in terms:
        dens = perelman_density(model, geo, params, pt.zc, pt.chart, "perelman" in terms)
        out["dirichlet"] = dens["grad_sq"]
        if "perelman" in terms:
            out["perelman"] = dens["scalar"] + dens["grad_sq"]
    return out


def flow_anchor(model: Model, params: Params, pts: Point,
                n: int | None = None) -> tuple[jax.Array, jax.Array]:
    """(phi, sigma) at the start of a flow step: the potential at every point of ``pts`` and
    sigma of the metric, weighted over the first ``n`` rows (the rest pad a sharded array)."""
    n = pts.weight.shape[0] if n is None else n

    def one(pt):
        eta = _det(model.apply(params, pt.inputs)) / pt.omega_sq
        return model.potential(params, pt.inputs), eta

    phi, eta = jax.vmap(one)(pts)
    w = pts.weight[:n]
    eta_bar = jnp.sum(w * eta[:n]) / jnp.sum(w)
    return phi, jnp.sum(w * jnp.abs(1 - eta[:n] / eta_bar)) / jnp.sum(w)


def batch_stats(model: Model, geo: rt.Geometry, terms: Sequence[str], params: Params,
                batch: Point) -> dict[str, jax.Array]:
    """:func:`point_stats` of every point of a batched :class:`Point` (vmap)."""
    return jax.vmap(lambda pt: point_stats(model, geo, terms, params, pt))(batch)


# ----------------------------------------------------------------------------- batches


def constants(stats: dict[str, jax.Array], w: jax.Array) -> dict[str, jax.Array]:
    """Batch constants: eta_bar, sum w, batch size and (volume) the slope estimates."""
    consts = {"w_sum": jnp.sum(w), "n": jnp.asarray(w.shape[0], w.dtype)}
    consts["eta_bar"] = jnp.sum(w * stats["eta"]) / consts["w_sum"]
    ratio = stats["eta"] / consts["eta_bar"]  # d sigma / d eta_bar, for the exact gradient
    consts["sigma_k"] = (jnp.sum(w * jnp.sign(1 - ratio) * ratio)
                         / (consts["w_sum"] * consts["eta_bar"]))
    if "slopes" in stats:
        consts["slopes"] = jnp.mean(w[:, None] * stats["slopes"], axis=0)
    return consts


def objective(stats: dict[str, jax.Array], w: jax.Array, consts: dict[str, jax.Array],
              alphas: dict[str, float], targets: np.ndarray | None = None,
              exact_sigma: bool = False, powers: Mapping[str, float] | None = None):
    """(surrogate, values): ``surrogate`` is a sum over points whose gradient, with ``consts``
    held fixed, is the gradient of sum alpha_t * term_t; ``values`` are the terms themselves
    (valid when ``stats`` is the whole batch the constants came from).

    sigma's gradient holds eta_bar fixed (cymetric's convention) unless ``exact_sigma``: then
    it is the gradient of sigma itself, which is blind to a constant rescaling of g (sigma
    is).  With eta_bar held fixed, sum w sign(eta - eta_bar) eta is not zero (the weighted
    median of eta is not its mean), so every step also pushes the overall scale of g; a
    Kähler model cannot change its scale (its class is fixed), but ``ldl``, ``add`` and
    ``mult`` then drift in scale instead of learning the shape (docs/training.md).

    ``powers`` (config ``loss_power``) trains a residual term as the weighted mean of
    |r|^p instead of |r| (p = 1); ``values`` then hold the terms as trained.  The norm's
    gradient does not shrink as r -> 0, which pins a non-Kähler model near FS or, with light
    weights, lets sigma pull it along the conformal direction; p = 2 penalises small
    residuals gently and large ones hard (docs/training.md, "Penalty powers")."""
    values, surrogate = {}, 0.0
    if "sigma" in alphas:
        dev = w * jnp.abs(1 - stats["eta"] / consts["eta_bar"]) / consts["w_sum"]
        values["sigma"] = jnp.sum(dev)
        surrogate = surrogate + alphas["sigma"] * jnp.sum(dev)
        if exact_sigma:  # + (d sigma / d eta_bar) * d eta_bar: the gradient of sigma itself
            eta_bar_part = consts["sigma_k"] * jnp.sum(w * stats["eta"]) / consts["w_sum"]
            surrogate = surrogate + alphas["sigma"] * eta_bar_part
    if "volume" in alphas:
        tgt = jnp.asarray(targets, w.dtype)
        log_ratio = jnp.log(consts["slopes"] / tgt)
        values["volume"] = jnp.mean(jnp.abs(log_ratio))
        coef = jnp.sign(log_ratio) / (consts["slopes"] * tgt.shape[0])
        part = jnp.sum(w[:, None] * stats["slopes"] * coef) / consts["n"]
        surrogate = surrogate + alphas["volume"] * part
    for name in SIGNED_TERMS:
        if name in alphas:
            term = jnp.sum(w * stats[name]) / consts["w_sum"]
            values[name] = term
            surrogate = surrogate + alphas[name] * term
    if "flow" in alphas:  # backward Euler: phi - phi_k - dt log(eta / eta_bar)
        r = stats["flow_phi"] - stats["flow_dt"] * jnp.log(stats["eta"] / consts["eta_bar"])
        values["flow"] = jnp.sum(w * r**2) / consts["w_sum"]
        surrogate = surrogate + alphas["flow"] * values["flow"]
    powers = powers or {}
    for name in RESIDUAL_TERMS:
        if name in alphas:
            term = jnp.sum(w * jnp.abs(stats[name]) ** powers.get(name, 1)) / consts["w_sum"]
            values[name] = term
            surrogate = surrogate + alphas[name] * term
    return surrogate, values


# ----------------------------------------------------------------------------- validation


def summarize(stats: dict[str, np.ndarray], w: np.ndarray, spec: dict) -> dict[str, Any]:
    """Float64 validation measures from per-point ``stats`` (numpy) and weights."""
    w = np.asarray(w, np.float64)
    eta = np.asarray(stats["eta"], np.float64)
    out: dict[str, Any] = {"sigma": measure.sigma(w, eta)}
    out["volume_mc"] = float(np.mean(w * eta))
    out["volume_exact"] = float(spec["volume"])
    if "slopes" in stats:
        targets = np.asarray(spec["slope_targets"], np.float64)  # exact, from the compiler
        slopes = np.mean(w[:, None] * np.asarray(stats["slopes"], np.float64), axis=0)
        out["slopes"] = slopes.tolist()
        out["slopes_exact"] = targets.tolist()
        out["volume"] = float(np.mean(np.abs(np.log(slopes / targets))))
    for name in ("kahler", "transition"):
        if name in stats:
            out[name] = float(np.sum(w * np.abs(stats[name])) / np.sum(w))
    for name in SIGNED_TERMS:
        if name in stats:
            out[name] = float(np.sum(w * np.asarray(stats[name], np.float64)) / np.sum(w))
    return out
