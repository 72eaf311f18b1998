"""The Weil-Petersson metric and the Yukawa couplings of complex-structure deformations,
integrated over exact points with their weights (metric-free).

Two independent routes to G_{a bbar} = -d_a dbar_b log int |Omega|^2:

* **Kodaira-Spencer** (:func:`moduli`): the pointwise data of
  :mod:`cygen.geometry.moduli` (k_a, M_a, f / conj f) averaged with the weights w,
  G = E[tr(M_a conj(M_b))] - Cov(k_a, k_b), and kappa_abc e^K = E[(f/conj f) D(M_a, M_b, M_c)]
  for threefolds, with the normalised couplings |kappa_abc| e^K (G_aa G_bb G_cc)^(-1/2);
* **finite differences** (:func:`finite_differences`): log mean(w) (which is
  log int |Omega|^2 up to a constant of the configuration) for the member and its
  neighbours t_a +- h, t_a +- i h (and the mixed ones for a != b), every member sampled on
  the *same* random slices (same seed and stream), so the noise of the differences is
  small; G from the central second differences.

Errors are jackknife standard errors over ``groups`` disjoint groups of points (each group
left out in turn; for the ratios and covariances here the jackknife removes the O(1/n)
bias that plain batch means keep).  The Yukawa integrand is heavy-tailed where the
Jacobian is nearly singular: its error is checked against repeated seeds in the tests and
the benchmark (docs/moduli.md).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cygen.compiler.loader import as_module
from cygen.core.errors import CygenError
from cygen.core.io import jsonable
from cygen.geometry import batching
from cygen.geometry import moduli as km
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

__all__ = ["BATCH", "FULL_YUKAWA_MAX", "GROUPS", "accumulate", "estimate", "finite_differences",
           "jackknife", "moduli", "parse_triples", "phase_charges", "point_function", "scan",
           "selection_rules"]

BATCH = 2048  # points per jitted call
GROUPS = 20  # jackknife groups
FULL_YUKAWA_MAX = 30  # directions up to which the whole Yukawa tensor is computed


def point_function(module, triples: np.ndarray | None, full: bool):
    """jit of the per-batch group sums: weights, w k, w k k^dagger, w tr(M conj M) and the
    Yukawa sums (the whole tensor with ``full``, else the requested ``triples``)."""
    geo = module.GEOMETRY
    point = jax.vmap(partial(km.ks_point, geo, module.dp_dt, module.d2p_dzdt))

    def sums(z, chart, w, group, groups: int):
        ks = point(z, chart)
        seg = partial(jax.ops.segment_sum, segment_ids=group, num_segments=groups)
        wk = w[:, None] * ks.k
        out = {
            "w": seg(w),
            "k": seg(wk),
            "kk": seg(wk[:, :, None] * jnp.conj(ks.k)[:, None, :]),
            "t": seg(w[:, None, None] * km.trace_pairing(ks.m)),
        }
        if ks.m.shape[-1] == 3:
            wp = w * ks.phase
            if full:
                out["y"] = seg(wp[:, None, None, None] * km.mixed_determinant(ks.m, ks.m, ks.m))
            elif triples is not None and len(triples):
                a, b, c = (ks.m[:, triples[:, i]] for i in range(3))
                d = jax.vmap(jax.vmap(lambda x, y, z: km.mixed_determinant(
                    x[None], y[None], z[None])[0, 0, 0]))(a, b, c)
                out["y"] = seg(wp[:, None] * d)
        return out

    return jax.jit(sums, static_argnames="groups")


def accumulate(fn, data: Dataset, groups: int, batch: int) -> dict[str, np.ndarray]:
    n = len(data)
    group = (np.arange(n) * groups // n).astype(np.int32)
    tree = (data.points, data.chart, np.asarray(data.weights, float), group)
    totals: dict[str, np.ndarray] = {}
    for valid, (z, chart, w, g) in batching.chunks(tree, batch):
        w = np.where(np.arange(len(w)) < valid, w, 0.0)  # padding rows weigh nothing
        out = fn(jnp.asarray(z), jnp.asarray(chart), jnp.asarray(w), jnp.asarray(g),
                 groups=groups)
        for key, value in out.items():
            value = np.asarray(value, np.complex128)
            totals[key] = totals[key] + value if key in totals else value
    return totals


def estimate(s: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
    """(G, kappa e^K) from pooled sums (group axis already summed)."""
    w = s["w"].real
    mean_k = s["k"] / w
    g = s["t"] / w - (s["kk"] / w - np.outer(mean_k, np.conj(mean_k)))
    g = 0.5 * (g + np.conj(g.T))  # Hermitian up to rounding
    return g, (s["y"] / w if "y" in s else None)


def jackknife(sums: dict[str, np.ndarray], stat) -> tuple[np.ndarray, np.ndarray]:
    """(statistic of all points, its jackknife standard error) for ``stat`` of pooled sums;
    complex statistics get the error of the complex value (sqrt of both parts' variances)."""
    total = {k: v.sum(axis=0) for k, v in sums.items()}
    full = np.asarray(stat(total))
    groups = len(sums["w"])
    leave = np.stack([np.asarray(stat({k: total[k] - v[j] for k, v in sums.items()}))
                      for j in range(groups)])
    spread = np.sum(np.abs(leave - leave.mean(axis=0)) ** 2, axis=0)
    return full, np.sqrt((groups - 1) / groups * spread)


def parse_triples(text: str | None, names: Sequence[str]) -> np.ndarray | None:
    """``"0,0,0;0,1,2"`` -> array of index triples (names or 0-based indices)."""
    if not text:
        return None
    triples = []
    for part in text.split(";"):
        items = [x.strip() for x in part.split(",")]
        if len(items) != 3:
            raise CygenError(f"--yukawa wants triples a,b,c separated by ';', got {part!r}")
        idx = []
        for item in items:
            if item.isdigit() and int(item) < len(names):
                idx.append(int(item))
            elif item in names:
                idx.append(list(names).index(item))
            else:
                raise CygenError(f"--yukawa: no direction {item!r} (0..{len(names) - 1} or a "
                                 "parameter name)")
        triples.append(idx)
    return np.asarray(triples, np.int32)


def _normalised(y: np.ndarray, g: np.ndarray, triples: np.ndarray | None) -> np.ndarray:
    diag = np.sqrt(np.abs(np.real(np.diag(g))))
    if triples is None:
        return np.abs(y) / (diag[:, None, None] * diag[None, :, None] * diag[None, None, :])
    return np.abs(y) / np.prod(diag[triples], axis=1)


def moduli(source, n: int = 100_000, seed: int = 0, *, params=None,
           deformations: str = "declared", data: str | os.PathLike | Dataset | None = None,
           yukawa: str | Iterable | None = "auto", groups: int = GROUPS,
           batch: int = BATCH) -> dict:
    """The Weil-Petersson metric (and for threefolds the Yukawa couplings) of the moduli of
    ``source`` (a ``.cy`` path, compiled with ``deformations``, or a loaded module) on ``n``
    fresh points (the ``moduli`` stream of ``seed``) or the points of ``data``.

    ``yukawa``: ``"auto"`` (the whole tensor up to :data:`FULL_YUKAWA_MAX` directions),
    ``"all"``, ``None``/``"none"``, or triples (``"a,b,c;..."`` or an iterable of index
    triples).  Returns the JSON document of ``cygen moduli --json``.
    """
    module = as_module(source, params, deformations=deformations)
    spec = module.SPEC
    names = list(spec["moduli"])
    if not names:
        raise CygenError(f"{spec['name']} has no moduli to differentiate in: declare a "
                         "'param' in the .cy file or use --deformations all")
    full, triples = _yukawa_plan(yukawa, names, spec["dimension"])
    start = time.perf_counter()
    ds = _points(module, n, seed, data)
    t_sample = time.perf_counter() - start
    start = time.perf_counter()
    sums = accumulate(point_function(module, triples, full), ds, groups, batch)
    t_eval = time.perf_counter() - start
    g, g_err = jackknife(sums, lambda s: estimate(s)[0])
    result = {"name": spec["name"], "params": names, "declared": spec["moduli_declared"],
              "values": {k: [complex(v).real, complex(v).imag] for k, v in spec["params"].items()},
              "deformations": names[spec["moduli_declared"]:] if spec["moduli_mode"] == "all"
              else None,
              "polynomial_deformations": spec["polynomial_deformations"],
              "wp_metric": {"re": g.real.tolist(), "im": g.imag.tolist()},
              "wp_metric_err": g_err.tolist(),
              "wp_eigenvalues": np.linalg.eigvalsh(g).tolist(),
              "points": len(ds), "seed": seed, "groups": groups,
              "seconds_sampling": round(t_sample, 3), "seconds_moduli": round(t_eval, 3),
              "points_per_second": round(len(ds) / t_eval, 1)}
    if "y" in sums:
        result |= _yukawa_result(sums, triples)
    return jsonable(result)


def _yukawa_plan(yukawa, names: Sequence[str], dim: int) -> tuple[bool, np.ndarray | None]:
    if not isinstance(yukawa, str | type(None)):  # index triples
        triples = np.asarray(list(yukawa), np.int32).reshape(-1, 3)
        if triples.size and (triples.min() < 0 or triples.max() >= len(names)):
            raise CygenError(f"Yukawa triples index directions 0..{len(names) - 1}")
        yukawa = triples
    if yukawa is None or (isinstance(yukawa, str) and yukawa == "none"):
        return False, None
    if dim != 3:
        if isinstance(yukawa, str) and yukawa == "auto":
            return False, None
        raise CygenError(f"Yukawa couplings are defined for threefolds; this is a {dim}-fold")
    if isinstance(yukawa, np.ndarray):
        return False, yukawa
    if yukawa == "auto":
        return len(names) <= FULL_YUKAWA_MAX, None
    if yukawa == "all":
        return True, None
    return False, parse_triples(yukawa, names)


def _yukawa_result(sums: dict, triples: np.ndarray | None) -> dict:
    y, y_err = jackknife(sums, lambda s: estimate(s)[1])
    lam, lam_err = jackknife(sums, lambda s: _normalised(estimate(s)[1], estimate(s)[0],
                                                          triples))
    if triples is None:
        return {"yukawa": {"re": y.real.tolist(), "im": y.imag.tolist()},
                "yukawa_err": y_err.tolist(), "yukawa_normalised": lam.tolist(),
                "yukawa_normalised_err": lam_err.tolist()}
    return {"yukawa_components": [
        {"indices": [int(i) for i in t], "re": float(v.real), "im": float(v.imag),
         "err": float(e), "normalised": float(lv), "normalised_err": float(le)}
        for t, v, e, lv, le in zip(triples, y, y_err, lam, lam_err, strict=True)]}


def _points(module, n: int, seed: int, data) -> Dataset:
    if data is None:
        return sample(module, n, seed, purpose="moduli")
    from cygen.compiler.loader import identity, same_manifold
    from cygen.sampling.dataset import recorded_identity

    ds = data if isinstance(data, Dataset) else Dataset.load(data)
    same_manifold(identity(module.SPEC), recorded_identity(ds.metadata), str(data),
                  f"the manifold {module.SPEC['name']}")
    return ds


def _overrides(params) -> dict[str, str]:
    """``--param`` overrides as a name -> text mapping (from a list of NAME=VALUE or a dict)."""
    if params is None:
        return {}
    if isinstance(params, dict):
        return {k: str(v) for k, v in params.items()}
    return dict(item.split("=", 1) for item in params)


def _member_weights(path, base, values: dict[str, complex], n: int, seed: int) -> np.ndarray:
    """The weights w of the member with ``values`` (the other parameters as ``base``), on
    the ``moduli`` stream of ``seed``: mean(w) is int |Omega|^2 up to a constant of the
    configuration."""
    params = {**_overrides(base), **{k: _complex_literal(v) for k, v in values.items()}}
    data = sample(as_module(path, params), n, seed, purpose="moduli", shuffle=False)
    return np.asarray(data.weights, float)


def _complex_literal(value: complex) -> str:
    """A DSL constant for ``value`` (positional decimals: the grammar has no exponents)."""
    re = np.format_float_positional(value.real, unique=True, trim="-")
    im = np.format_float_positional(abs(value.imag), unique=True, trim="-")
    return f"{re}{'-' if value.imag < 0 else '+'}{im}i"


def finite_differences(path, values: dict[str, complex], n: int = 100_000, seed: int = 0,
                       h: float = 1e-2, params=None) -> dict:
    """G_{a bbar} of the declared parameters ``values`` (name -> complex value at the member;
    other parameters as the overrides ``params``) by central second differences of
    log int |Omega|^2 (see the module docstring), with jackknife errors over 20 groups of
    slices shared by every member."""
    names = list(values)
    centre = {k: complex(v) for k, v in values.items()}
    cache: dict = {}

    def f(shift: dict[str, complex]) -> np.ndarray:
        key = tuple(sorted(shift.items()))
        if key not in cache:
            point = {k: v + shift.get(k, 0) for k, v in centre.items()}
            cache[key] = _member_weights(path, params, point, n, seed)
        return cache[key]

    def second(a: str, b: str, da: complex, db: complex):
        """d^2/ds dr of log mean(w) at t + s da + r db (per-group values for the jackknife)."""
        if a == b and da == db:
            plus, minus, mid = f({a: da * h}), f({a: -da * h}), f({})
            return lambda m: (m(plus) + m(minus) - 2 * m(mid)) / h**2
        pp, pm = f(_add({a: da * h}, {b: db * h})), f(_add({a: da * h}, {b: -db * h}))
        mp, mm = f(_add({a: -da * h}, {b: db * h})), f(_add({a: -da * h}, {b: -db * h}))
        return lambda m: (m(pp) - m(pm) - m(mp) + m(mm)) / (4 * h**2)

    def zero(_):
        return 0.0

    terms = {}
    for a in names:
        for b in names:
            xx, yy = second(a, b, 1, 1), second(a, b, 1j, 1j)
            xy, yx = (zero, zero) if a == b else (second(a, b, 1, 1j), second(a, b, 1j, 1))
            terms[a, b] = (xx, yy, xy, yx)
    return _fd_result(names, terms, n, seed, h)


def scan(path, name: str, start: complex, end: complex, steps: int, n: int = 100_000,
         seed: int = 0, params=None) -> dict:
    """G_{t tbar} and (threefolds) lambda = |kappa_ttt| e^K G^(-3/2) of the declared parameter
    ``name`` at ``steps`` points of the segment start..end (the other parameters as
    ``params``); a singular member on the way is a row with its error message."""
    rows = []
    for value in np.linspace(complex(start), complex(end), steps):
        overrides = {**_overrides(params), name: _complex_literal(complex(value))}
        row: dict = {"value": [float(value.real), float(value.imag)]}
        try:
            r = moduli(path, n=n, seed=seed, params=overrides, yukawa="auto")
        except CygenError as exc:
            rows.append(row | {"error": exc.message})
            continue
        i = r["params"].index(name)
        row |= {"wp_metric": r["wp_metric"]["re"][i][i], "wp_metric_err": r["wp_metric_err"][i][i]}
        if "yukawa_normalised" in r:
            row |= {"yukawa_normalised": r["yukawa_normalised"][i][i][i],
                    "yukawa_normalised_err": r["yukawa_normalised_err"][i][i][i]}
        rows.append(row)
    return jsonable({"name": str(path), "param": name, "start": [start.real, start.imag],
                     "end": [end.real, end.imag], "steps": steps, "points": n, "seed": seed,
                     "rows": rows})


def _add(x: dict, y: dict) -> dict:
    return {k: x.get(k, 0) + y.get(k, 0) for k in {*x, *y}}


def _fd_result(names, terms, n: int, seed: int, h: float) -> dict:
    groups = GROUPS

    def metric(pick):
        g = np.zeros((len(names), len(names)), complex)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                xx, yy, xy, yx = (t(pick) for t in terms[a, b])
                g[i, j] = -0.25 * ((xx + yy) + 1j * (xy - yx))
        return g

    def log_mean(w, keep):
        return math.log(float(np.mean(w[keep])))

    n_points = None

    def mask(j):
        def pick(w):
            nonlocal n_points
            n_points = len(w)
            group = np.arange(len(w)) * groups // len(w)
            return log_mean(w, group != j if j is not None else np.ones(len(w), bool))
        return pick

    full = metric(mask(None))
    leave = np.stack([metric(mask(j)) for j in range(groups)])
    err = np.sqrt((groups - 1) / groups * np.sum(np.abs(leave - leave.mean(axis=0)) ** 2, axis=0))
    return jsonable({"params": names, "wp_metric": {"re": full.real.tolist(),
                                                    "im": full.imag.tolist()},
                     "wp_metric_err": err.tolist(), "points": n_points, "seed": seed,
                     "step": h, "route": "finite differences of log int |Omega|^2"})


def phase_charges(module, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """(rho (generators, T), s (generators,), N): the charges, in units of 2 pi / N, of the
    moduli directions and of Omega under the phase symmetries z_i -> w^(p_i) z_i (w =
    exp(2 pi i / N)) of SPEC["symmetry_phase_generators"].

    A generator maps the member at t' to the member at t with t'_a = w^(-rho_a) t_a, where
    rho_a = chi_k - c_a for a direction moving equation k (p_k(gz) = w^chi_k p_k(z)) by a
    polynomial of charge c_a, and pulls Omega back to w^s Omega, s = sum_i p_i - sum_k chi_k.
    The characters are read off the generated equations and dp/dt at a random point of the
    ambient space (each is a single character: the generators are symmetries)."""
    spec = module.SPEC
    dim = sum(n + 1 for n in spec["ambient"])
    gens = np.asarray(spec.get("symmetry_phase_generators") or [], int).reshape(-1, dim)
    order = int(spec.get("symmetry_phase_denominator") or 1)
    rng = np.random.default_rng(seed)
    z = rng.normal(size=dim) + 1j * rng.normal(size=dim)

    def charge(after, before) -> np.ndarray:
        ratio = np.angle(np.asarray(after) / np.asarray(before)) * order / (2 * np.pi)
        return np.round(ratio).astype(int) % order

    rho, s = [], []
    for g in gens:
        gz = z * np.exp(2j * np.pi * g / order)
        chi = charge(module.equations(jnp.asarray(gz)), module.equations(jnp.asarray(z)))
        q, qg = np.asarray(module.dp_dt(jnp.asarray(z))), np.asarray(module.dp_dt(jnp.asarray(gz)))
        eq = np.argmax(np.abs(q), axis=1)  # the equation each direction moves (one per direction)
        rows = np.arange(len(q))
        c = charge(qg[rows, eq], q[rows, eq])
        rho.append((chi[eq] - c) % order)
        s.append((int(g.sum()) - int(chi.sum())) % order)
    return np.asarray(rho, int).reshape(len(gens), -1), np.asarray(s, int), order


def selection_rules(module) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks (T, T) and (T, T, T) of the entries of G_{a bbar} and kappa_abc that the
    phase symmetries *allow* at a symmetric member (t = 0 in every charged direction):
    G_{a bbar} needs rho_a = rho_b, and kappa_abc needs rho_a + rho_b + rho_c = 2 s, for
    every generator (mod N); the others must vanish (docs/moduli.md)."""
    rho, s, order = phase_charges(module)
    g_ok = np.all(rho[:, :, None] == rho[:, None, :], axis=0)
    total = rho[:, :, None, None] + rho[:, None, :, None] + rho[:, None, None, :]
    y_ok = np.all((total - 2 * s[:, None, None, None]) % order == 0, axis=0)
    return g_ok, y_ok
