"""Metric ansätze: the models phi, add, mult, ldl (and a balanced metric as a model).

A model is a :class:`Model`.  Everything is single-point (vmap outside) and never branches
in Python on traced values:

* ``init(key) -> params`` (a pytree of real arrays);
* ``inputs(local) -> inputs``: the parameter-free per-point network inputs, computed from a
  :class:`Local` (the point in a chart's frame with its pullback and FS metric).  The
  trainer computes them once per point, in float64, and stores them;
* ``apply(params, inputs) -> g``: the metric g_{i jbar} in the chart's coordinates,
  (dim, dim) complex Hermitian;
* ``metric(params, local) = apply(params, inputs(local))``.

Models (``make_model``):

``phi``
    g = g_base + d dbar phi, phi a real MLP of the projectively invariant inputs
    Re, Im z_i zbar_j / ||z^(a)||^2 per factor a; g_base is the FS metric, or
    P (d dbar K) P^dagger for an optional base potential K (Donaldson, later).  phi is a
    function on the ambient space, so in chart coordinates d dbar phi = P H P^dagger with H
    the ambient Wirtinger Hessian and P the pullback: no second derivatives of the
    embedding.  It is computed by propagating the order-1 "jet" (value, the dim holomorphic
    derivatives and the dim x dim d dbar block along the rows of P) through the MLP with
    the jet engine :mod:`cygen.learn.jets` (1 + 2 dim + dim^2 real channels per unit); the
    same engine at order 2 gives the metric's derivatives for curvature (``Model.jet``).
    Kähler by construction, globally defined (no transition loss needed).
``add`` / ``mult``
    g = g_FS + N, and g = g_FS ∘ (1 + N) (elementwise), N a Hermitian matrix from an MLP.
``ldl``
    The seed's ansatz: g = L D L^dagger with L unit lower-triangular (complex entries from
    one MLP's real outputs) and D = exp(another MLP).
    ``add``, ``mult`` and ``ldl`` take the real and imaginary parts of all the chart's affine
    coordinates z_i / z_affine (the free ones u and the dependent ones, which tell apart the
    branches of X over one u) plus the chart as coordinate roles (:func:`chart_roles`; one
    network shared across charts), or ``inputs = "invariant"``; they are not automatically
    Kähler (see :mod:`cygen.learn.losses`).

The last layer of every network starts near zero (``init_scale``), so ``phi``, ``add`` and
``mult`` start at the FS metric and ``ldl`` at the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cygen.geometry import runtime as rt
from cygen.geometry.local import Local, wirtinger
from cygen.learn import jets
from cygen.learn.networks import ACTIVATIONS, hermitian, mlp, mlp_init
from cygen.learn.potentials import BasePotential, base_potential, metric_from_jet, section_jet

Params = Any  # a pytree of real arrays


MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "phi": {"widths": [64, 64, 64], "activation": "gelu", "init_scale": 1e-2,
            "base_rate": 0.1},  # with a Donaldson base (--init): h trained at 0.1 x the rate
    "add": {"widths": [64, 64, 64], "activation": "gelu", "init_scale": 1e-2,
            "inputs": "affine"},
    "mult": {"widths": [64, 64, 64], "activation": "gelu", "init_scale": 1e-2,
             "inputs": "affine"},
    "ldl": {"widths": [500, 500, 500], "activation": "tanh", "init_scale": 1e-2,
            "networks": "shared",  # or "per_class": one network per patch class
            "inputs": "affine"},
    "donaldson": {},  # a balanced metric (cygen.donaldson): degree, exponents, scale
}


class Model(NamedTuple):
    """A metric ansatz: see the module docstring."""

    name: str
    dim: int
    init: Callable[[jax.Array], Params]
    inputs: Callable[[Local], Any]
    apply: Callable[[Params, Any], jax.Array]
    kahler: bool  # Kähler and globally defined by construction
    # how the kahler and transition residuals are measured (cygen.losses): "relative" to
    # the metric itself (invariant under g -> A g A^dagger) or "absolute" (Frobenius norms)
    residuals: str = "relative"
    # (params, geo, z, chart) -> MetricJet (g, dg, ddbar g) in closed form, when the model
    # has one (phi on Fubini-Study: cygen.learn.jets); curvature otherwise uses autodiff
    jet: Callable | None = None
    # (params, inputs) -> the Kähler potential phi at the point (phi only): the Kähler–Ricci
    # flow trainer regresses it (cygen.learn.losses, term "flow")
    potential: Callable | None = None

    def metric(self, params: Params, local: Local) -> jax.Array:
        """g_{i jbar} (dim, dim) at ``local`` in its chart."""
        return self.apply(params, self.inputs(local))


# ----------------------------------------------------------------------------- phi


def invariant_features(geo: rt.Geometry, z: jax.Array) -> jax.Array:
    """Re/Im of z_i zbar_j / ||z^(a)||^2 per factor (diagonal, then upper Re, upper Im)."""
    out = []
    for o, s in zip(geo.offsets, geo.factor_sizes, strict=True):
        za = z[o : o + s]
        zz = jnp.outer(za, za.conj()) / jnp.real(jnp.vdot(za, za))
        iu, ju = np.triu_indices(s, 1)
        out += [jnp.real(jnp.diagonal(zz)), jnp.real(zz[iu, ju]), jnp.imag(zz[iu, ju])]
    return jnp.concatenate(out)


def potential_metric(potential: Callable[[jax.Array], jax.Array], local: Local) -> jax.Array:
    """P (d dbar K) P^dagger for any real ambient function K, by autodiff (a balanced
    potential has it in closed form: :meth:`cygen.learn.potentials.BasePotential.local_metric`)."""
    dim = local.pullback.shape[0]

    def along(t):
        return potential(local.zc + (t[:dim] + 1j * t[dim:]) @ local.pullback)

    return wirtinger(jax.hessian(along)(jnp.zeros(2 * dim, local.zc.real.dtype)), dim)


def phi_model(geo: rt.Geometry, widths: Sequence[int] = (64, 64, 64), activation: str = "gelu",
              init_scale: float = 1e-2,
              base_potential: BasePotential | None = None,
              base_rate: float = 0.0, features: Callable | None = None,
              n_features: int | None = None) -> Model:
    """g = g_base + d dbar phi; g_base = FS, or P (d dbar K) P^dagger for ``base_potential`` K.

    ``base_rate`` > 0 (with a Donaldson base): the base's Hermitian
    matrix is trained with phi, h = h_balanced + base_rate * (Hermitian part of
    ``params["h"]``), which starts at 0.  K_h = scale log(s h s^dagger) then becomes the best
    degree-k potential for the loss rather than the balanced one (as in Headrick–Nassar's
    optimal metrics) while phi corrects the rest; ``base_rate`` scales h's steps relative to
    the network's (docs/donaldson.md: 0.1 is best of 0.1, 1, 10 on the quintic; with h
    fixed the balanced start trains slower than FS).

    ``features`` (zc, P, Q=None) -> :class:`cygen.learn.jets.Jet`, ``n_features`` wide,
    replaces the Hermitian features (:func:`cygen.learn.jets.feature_jets`): the
    invariants of :mod:`cygen.learn.symmetric`."""
    dim = int(geo.free.shape[1])
    n_in = sum(s * s for s in geo.factor_sizes) if features is None else n_features
    if features is None:
        def features(zc, p, q=None):
            return jets.feature_jets(geo, zc, p, q)
    trainable = base_rate > 0 and base_potential is not None

    def init(key):
        params = {"phi": mlp_init(key, [n_in, *widths, 1], init_scale)}
        if trainable:
            h = np.asarray(base_potential.h)
            params["h"] = {"re": jnp.zeros(h.shape), "im": jnp.zeros(h.shape)}
        return params

    def inputs(loc: Local):
        if base_potential is None:
            base = loc.g_fs
        elif trainable:
            base = base_potential.section_jet(loc)
        else:
            base = base_potential.local_metric(loc)
        return jets.channels(features(loc.zc, loc.pullback)), base

    def apply(params, inp):
        features, base = inp
        if trainable:
            h = params["h"]["re"] + 1j * params["h"]["im"]
            h = jnp.asarray(base_potential.h) + base_rate * 0.5 * (h + h.conj().T)
            base = base_potential.metric_with(h, *base)
        return base + jets.ddbar(params["phi"], features, activation)

    def jet(params, geo_, z, chart):  # curvature: the same network's order-2 jets
        return jets.metric_jet(params["phi"], activation, geo_, z, chart, features)

    def potential(params, inp):  # phi itself: the value channel of the features' jets
        return mlp(params["phi"], inp[0].v, activation)[0]

    return Model("phi", dim, init, inputs, apply, True,
                 jet=jet if base_potential is None else None, potential=potential)


def phi_value(model_params: Params, geo: rt.Geometry, z: jax.Array, activation: str) -> jax.Array:
    """The potential phi(z) itself (for tests and plots)."""
    return mlp(model_params["phi"], invariant_features(geo, z), activation)[0]


# ----------------------------------------------------------------------------- add, mult, ldl


def chart_coordinates(geo: rt.Geometry, zc: jax.Array, chart) -> jax.Array:
    """Re, Im of every affine coordinate of the chart: the free ones u, then the dependent ones.

    The free coordinates alone are local coordinates but not a global label of the point: X
    covers the u-space several times (the quintic five times), and the branches over one u
    carry different metrics, so a network of u alone cannot represent a metric on X.  With
    the dependent coordinates (holomorphic functions of u on each branch) the input is
    injective on the chart; every entry is at most 1 in modulus (``zc``'s frame).
    """
    coords = jnp.concatenate([jnp.asarray(geo.free)[chart], jnp.asarray(geo.dependent)[chart]])
    w = zc[coords]
    return jnp.concatenate([jnp.real(w), jnp.imag(w)])


def chart_roles(geo: rt.Geometry, chart) -> jax.Array:
    """The chart as a network input: for each homogeneous coordinate, (is affine, is dependent).

    It identifies the chart (the free coordinates are the rest) and, unlike a one-hot label
    over all charts (288 on Tian-Yau), charts that share their affine or dependent choices
    share input directions, so a shared network generalises across charts from far fewer
    points per chart (docs/training.md, "Network inputs")."""
    n = len(geo.factor_of)
    affine = jnp.zeros(n).at[jnp.asarray(geo.affine)[chart]].set(1.0)
    dependent = jnp.zeros(n).at[jnp.asarray(geo.dependent)[chart]].set(1.0)
    return jnp.concatenate([affine, dependent])


INPUTS = ("affine", "invariant")


def point_features(geo: rt.Geometry, zc: jax.Array, chart, kind: str) -> jax.Array:
    """The network's view of a point: ``affine`` (:func:`chart_coordinates`, the seed's) or
    ``invariant`` (:func:`invariant_features`, the same for every chart: continuous on X)."""
    if kind == "affine":
        return chart_coordinates(geo, zc, chart)
    if kind == "invariant":
        return invariant_features(geo, zc)
    raise ValueError(f"inputs must be one of {', '.join(INPUTS)}, not {kind!r}")


def n_point_features(geo: rt.Geometry, kind: str) -> int:
    """Length of :func:`point_features`."""
    if kind == "invariant":
        return sum(s * s for s in geo.factor_sizes)
    return 2 * (int(geo.free.shape[1]) + int(geo.dependent.shape[1]))


def chart_inputs(geo: rt.Geometry, loc: Local, kind: str = "affine") -> jax.Array:
    """:func:`point_features` of ``kind`` and the chart's :func:`chart_roles`."""
    x = point_features(geo, loc.zc, loc.chart, kind)
    return jnp.concatenate([x, chart_roles(geo, loc.chart).astype(x.dtype)])


def n_chart_inputs(geo: rt.Geometry, kind: str) -> int:
    """Length of :func:`chart_inputs`."""
    return n_point_features(geo, kind) + 2 * len(geo.factor_of)


def _hermitian_from(v: jax.Array, dim: int) -> jax.Array:
    k = dim * (dim - 1) // 2
    return hermitian(v[:dim], v[dim : dim + k], v[dim + k :], dim)


def fs_nn_model(geo: rt.Geometry, kind: str, widths: Sequence[int] = (64, 64, 64),
                activation: str = "gelu", init_scale: float = 1e-2,
                inputs: str = "affine") -> Model:
    """``add``: g = g_FS + N;  ``mult``: g = g_FS ∘ (1 + N);  N Hermitian from an MLP of u."""
    dim = int(geo.free.shape[1])
    n_in = n_chart_inputs(geo, inputs)

    def init(key):
        return {"nn": mlp_init(key, [n_in, *widths, dim * dim], init_scale)}

    kind_inputs = inputs

    def inputs(loc: Local):
        return chart_inputs(geo, loc, kind_inputs), loc.g_fs

    def apply(params, inp):
        x, g_fs = inp
        n = _hermitian_from(mlp(params["nn"], x, activation), dim)
        return g_fs + n if kind == "add" else g_fs * (1 + n)

    return Model(kind, dim, init, inputs, apply, False)


def ldl_model(geo: rt.Geometry, widths: Sequence[int] = (500, 500, 500),
              activation: str = "tanh", init_scale: float = 1e-2,
              inputs: str = "affine") -> Model:
    """The seed's g = L D L^dagger: L unit lower-triangular, D = exp(MLP); the inputs are the
    point (``inputs``: its chart's affine coordinates or the invariants) and the chart."""
    dim = int(geo.free.shape[1])
    n_in = n_chart_inputs(geo, inputs)
    k = dim * (dim - 1) // 2
    il, jl = np.tril_indices(dim, -1)

    def init(key):
        k1, k2 = jax.random.split(key)
        return {"lower": mlp_init(k1, [n_in, *widths, max(2 * k, 1)], init_scale),
                "diag": mlp_init(k2, [n_in, *widths, dim], init_scale)}

    kind_inputs = inputs

    def inputs(loc: Local):
        return chart_inputs(geo, loc, kind_inputs)

    def apply(params, x):
        v = mlp(params["lower"], x, activation)
        d = jnp.exp(mlp(params["diag"], x, activation))
        lower = jnp.eye(dim, dtype=jnp.result_type(v.dtype, jnp.complex64))
        lower = lower.at[il, jl].set(v[:k] + 1j * v[k : 2 * k])
        return (lower * d) @ lower.conj().T

    return Model("ldl", dim, init, inputs, apply, False)


class PatchClasses(NamedTuple):
    """Chart -> patch class tables from a module's SPEC (docs/symmetries.md)."""

    class_of: np.ndarray  # (n_charts,) class index
    representative: np.ndarray  # (n_charts,) the class's representative chart
    maps: np.ndarray  # (n_charts, N) a symmetry permutation mapping the chart to it


def patch_classes(spec: dict) -> PatchClasses:
    """:class:`PatchClasses` from SPEC's ``patch_classes``, ``..._of_chart``, ``..._maps``."""
    class_of = np.asarray(spec["patch_class_of_chart"], dtype=np.int32)
    reps = np.array([c[0] for c in spec["patch_classes"]], dtype=np.int32)
    return PatchClasses(class_of, reps[class_of],
                        np.asarray(spec["patch_class_maps"], dtype=np.int32))


def class_inputs(geo: rt.Geometry, classes: PatchClasses, loc: Local, kind: str = "affine"):
    """:func:`chart_coordinates` in the class representative's chart, the class, and T.

    The chart's point is moved by its class map r (a symmetry permutation) into the
    representative chart; T[i, k] = du_rep^k / du^i (a 0/1 matrix), so g = T g_rep T^T.
    """
    perm = jnp.asarray(classes.maps)[loc.chart]
    rep = jnp.asarray(classes.representative)[loc.chart]
    z_rep = jnp.zeros_like(loc.zc).at[perm].set(loc.zc)
    free_rep = jnp.asarray(geo.free)[rep]
    x = point_features(geo, z_rep, rep, kind)
    free = jnp.asarray(geo.free)[loc.chart]
    t = (perm[free][:, None] == free_rep[None, :]).astype(x.dtype)
    return x, jnp.asarray(classes.class_of)[loc.chart], t


def ldl_per_class_model(geo: rt.Geometry, classes: PatchClasses,
                        widths: Sequence[int] = (500, 500, 500), activation: str = "tanh",
                        init_scale: float = 1e-2, inputs: str = "affine") -> Model:
    """The seed's L D L^dagger with one network pair per patch class, evaluated in the class
    representative's chart (the point mapped there by a symmetry) and pulled back."""
    dim = int(geo.free.shape[1])
    n_classes = int(classes.class_of.max()) + 1
    k = dim * (dim - 1) // 2
    il, jl = np.tril_indices(dim, -1)

    def init(key):
        def one(kk):
            k1, k2 = jax.random.split(kk)
            n_in = n_point_features(geo, inputs)
            return {"lower": mlp_init(k1, [n_in, *widths, max(2 * k, 1)], init_scale),
                    "diag": mlp_init(k2, [n_in, *widths, dim], init_scale)}

        nets = [one(kk) for kk in jax.random.split(key, n_classes)]
        return jax.tree.map(lambda *xs: jnp.stack(xs), *nets)

    kind_inputs = inputs

    def inputs(loc: Local):
        return class_inputs(geo, classes, loc, kind_inputs)

    def apply(params, inp):
        x, cls, t = inp
        v = jax.vmap(lambda p: mlp(p, x, activation))(params["lower"])[cls]
        d = jnp.exp(jax.vmap(lambda p: mlp(p, x, activation))(params["diag"])[cls])
        lower = jnp.eye(dim, dtype=jnp.result_type(v.dtype, jnp.complex64))
        lower = lower.at[il, jl].set(v[:k] + 1j * v[k : 2 * k])
        return t @ ((lower * d) @ lower.conj().T) @ t.T

    return Model("ldl", dim, init, inputs, apply, False)


def balanced_model(geo: rt.Geometry, exponents: Sequence[Sequence[int]], scale: float,
                   **_: Any) -> Model:
    """A balanced metric (:mod:`cygen.learn.donaldson`) as a :class:`Model` (params
    ``h_re``, ``h_im``; the run directory's model ``donaldson``)."""
    exps = np.asarray(exponents, int)
    n_s = len(exps)
    dim = int(geo.free.shape[1])

    def init(key):
        eye = jnp.eye(n_s, dtype=jnp.float64)
        return {"h_re": eye, "h_im": jnp.zeros_like(eye)}

    def inputs(loc: Local):
        return section_jet(exps, loc.zc, loc.pullback)

    def apply(params, inp):
        s, a = inp
        h = params["h_re"] + 1j * params["h_im"]
        return metric_from_jet(scale, h, s, a)

    return Model("donaldson", dim, init, inputs, apply, True)


def on_base(model: Model, potential: BasePotential | None = None) -> Model:
    """``model`` measured in a Kähler base metric's Cholesky frame: g = C G C^dagger with
    C C^dagger = g_FS (``potential`` None) or the metric of ``potential`` (Donaldson's), G the
    model's output.  ``ldl`` (G = L D L^dagger, near 1 at the start) then starts at the base,
    which is Kähler and matches across charts, instead of at the identity in every chart
    (model option ``start = "fs"`` or ``"base"``)."""

    def inputs(loc: Local):
        base = loc.g_fs if potential is None else potential.local_metric(loc)
        return model.inputs(loc), rt.cholesky_small(base)

    def apply(params, inp):
        x, c = inp
        return c @ model.apply(params, x) @ c.conj().T

    return model._replace(inputs=inputs, apply=apply)


def scale_outputs(params: Params, lam: jax.Array) -> Params:
    """``params`` with the last layer of every network (a list of ``{"w", "b"}`` layers)
    multiplied by ``lam``: each network's output, and so the model's departure from its
    start (FS, the base, the identity frame), times ``lam``."""
    if isinstance(params, list) and params and isinstance(params[-1], dict) \
            and set(params[-1]) == {"w", "b"}:
        return [*params[:-1], {k: lam * v for k, v in params[-1].items()}]
    if isinstance(params, dict):
        return {k: scale_outputs(v, lam) for k, v in params.items()}
    return params


def ramped(model: Model) -> Model:
    """The seed's lambda schedule: params ``{"net": ..., "ramp": lambda}`` with the
    networks' outputs scaled by lambda (:func:`scale_outputs`), which starts at 0 (the
    Kähler start metric) and which the trainer raises with the epochs (model option
    ``ramp_epochs``).  lambda is a parameter with a zero gradient (``stop_gradient``), so
    optimisers leave it alone and checkpoints keep it."""

    def init(key):
        return {"net": model.init(key), "ramp": jnp.zeros((), jnp.float64)}

    def net(params):
        return scale_outputs(params["net"], jax.lax.stop_gradient(params["ramp"]))

    def apply(params, inp):
        return model.apply(net(params), inp)

    jet = None if model.jet is None else (lambda params, *a: model.jet(net(params), *a))
    pot = None if model.potential is None else (
        lambda params, inp: model.potential(net(params), inp))
    return model._replace(init=init, apply=apply, jet=jet, potential=pot)


def make_model(geo: rt.Geometry, name: str = "phi", **options) -> Model:
    """Build a model by name with ``options`` over :data:`MODEL_DEFAULTS` (widths, activation
    and so on)."""
    if name not in MODEL_DEFAULTS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_DEFAULTS)}")
    if options.get("ramp_epochs"):  # the seed's lambda schedule (cygen.learn.trainer)
        return ramped(make_model(geo, name, **{**options, "ramp_epochs": 0}))
    options = {k: v for k, v in options.items() if k != "ramp_epochs"}
    start = options.get("start", "identity")
    if start != "identity":  # ldl/add/mult relative to FS or to a balanced metric
        options = dict(options)
        options.pop("start")
        if start not in ("fs", "base"):
            raise ValueError("start must be 'identity', 'fs' or 'base'")
        base = options.pop("base", None)
        potential = None
        if start == "base":
            if base is None:
                raise ValueError("start = 'base' needs a balanced metric (init = 'donaldson:K')")
            potential = base_potential(base)
        return on_base(make_model(geo, name, **options), potential)
    if "residuals" in options:  # a loss setting carried by the model (see Model.residuals)
        options = dict(options)
        residuals = options.pop("residuals")
        if residuals not in ("relative", "absolute"):
            raise ValueError(f"residuals must be 'relative' or 'absolute', not {residuals!r}")
        return make_model(geo, name, **options)._replace(residuals=residuals)
    opts = {**MODEL_DEFAULTS[name], **options}
    if name == "donaldson" or opts.get("base") is not None:  # Donaldson's balanced metrics
        if name == "donaldson":
            return balanced_model(geo, **opts)
        opts["base_potential"] = base_potential(opts.pop("base"))
    opts.pop("base", None)
    if opts["activation"] not in ACTIVATIONS:
        raise ValueError(f"unknown activation {opts['activation']!r}; "
                         f"choose from {', '.join(ACTIVATIONS)}")
    if opts.get("inputs", "affine") not in INPUTS:
        raise ValueError(f"inputs must be one of {', '.join(INPUTS)}, not {opts['inputs']!r}")
    opts["widths"] = tuple(int(w) for w in opts["widths"])
    if name == "phi":
        return phi_model(geo, **opts)
    if name == "ldl":
        classes = opts.pop("classes", None)
        if opts.pop("networks", "shared") == "per_class":
            if classes is None:
                raise ValueError("networks = 'per_class' needs the module's patch classes")
            return ldl_per_class_model(geo, classes, **opts)
        return ldl_model(geo, **opts)
    return fs_nn_model(geo, name, **opts)


def cast(tree: Any, dtype) -> Any:
    """Cast the floating leaves of a pytree to the real ``dtype`` (complex to its complex kind)."""
    real = jnp.dtype(dtype)
    cplx = jnp.result_type(real, jnp.complex64)

    def one(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            return x.astype(cplx)
        if jnp.issubdtype(x.dtype, jnp.floating):
            return x.astype(real)
        return x

    return jax.tree.map(one, tree)
