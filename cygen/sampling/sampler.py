"""Exact point sampling on any CICY (Shiffman-Zelditch: all points of random slices).

For each slice type t (chosen by the compiler, ``SPEC["slices"]``) a chunk draws
S random slices L = prod_a L_a, L_a = span of a complex Gaussian
(n_a+1) x (t_a+1) matrix B_a (a U(n_a+1)-invariant random t_a-plane), and finds
*all* d(t) points of X on each:

* when the compiler found a triangular plan (``SPEC["slices"][i]["plan"]``:
  hypersurfaces, Tian-Yau, Schoen, bicubic, ...): each step is either a
  univariate polynomial in one factor's remaining slice parameter, whose
  coefficients come from a DFT of the generated ``equations`` at d+1 roots of
  unity and whose roots come from ``cygen.roots.polyroots`` (Aberth-Ehrlich,
  no eig), or a linear
  equation that cuts one factor's slice by a hyperplane (Householder kernel);
* otherwise (e.g. P5[3,3]): the square multihomogeneous system in the slice
  parameters is solved by ``cygen.homotopy.solve`` (multihomogeneous start
  system, gamma trick, predictor-corrector);
* finally two minimum-norm Newton steps on the full system in the ambient space.

A slice with any failed or duplicate solution is discarded whole and counted;
partial sets are never kept.  Weights are in ``cygen.measure``.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from cygen.compiler.loader import as_module, identity
from cygen.core.errors import CygenError
from cygen.core.seeds import jax_key, substream
from cygen.core.version import __version__
from cygen.geometry import measure, scale
from cygen.geometry import runtime as rt
from cygen.sampling import homotopy
from cygen.sampling.dataset import FIELDS, Dataset
from cygen.sampling.roots import polyroots

NEWTON_STEPS = 2  # final minimum-norm Newton polishing of every point on the full system


@dataclass(frozen=True)
class SliceSolver:
    """A jitted ``key -> (points (S*d, N), ok (S*d,))`` for one slice type."""

    t: tuple[int, ...]
    degree: int
    slices: int
    fn: Callable[[jax.Array], tuple[jax.Array, jax.Array]]


def _random_bases(key, sizes, ts, slices, sharding=None):
    """Gaussian slice bases; drawn identically with or without a mesh, then (``sharding``)
    split along the slice axis so each device solves its share."""
    keys = jax.random.split(key, len(sizes))
    out = []
    for k, s, t in zip(keys, sizes, ts, strict=True):
        re, im = jax.random.normal(k, (2, slices, s, t + 1), dtype=jnp.float64)
        out.append((re + 1j * im) / math.sqrt(2 * s))
    return scale.constrain(out, sharding)


def _householder_kernel(c: jax.Array) -> jax.Array:
    """Orthonormal basis (r+1, r) of {mu : sum_j c_j mu_j = 0}, via a Householder reflection."""
    u = jnp.conj(c) / jnp.linalg.norm(c)
    phase = jnp.where(jnp.abs(u[0]) > 0, u[0] / jnp.abs(u[0]), 1.0)
    v = u + phase * jnp.eye(c.shape[0], dtype=c.dtype)[0]
    h = jnp.eye(c.shape[0], dtype=c.dtype) - 2 * jnp.outer(v, jnp.conj(v)) / jnp.vdot(v, v)
    return h[:, 1:]


def _triangular(geo: rt.Geometry, t, degree: int, slices: int, plan, configuration,
                sharding=None):
    """Solve slices by the compiler's triangular plan: univariate roots and hyperplanes.

    State per branch: a basis M_a (n_a+1, r_a+1) of each factor's remaining slice; the
    point is z_a = M_a mu_a.  Branches multiply at univariate steps (slice-major order).
    """

    def point(bases, factor, mu):
        return jnp.concatenate(
            [b @ mu if a == factor else b[:, 0] for a, b in enumerate(bases)]
        )

    def univariate(bases, factor, k, order):
        nodes = jnp.exp(2j * jnp.pi * jnp.arange(order + 1) / (order + 1))
        inverse = jnp.exp(-2j * jnp.pi * jnp.outer(jnp.arange(order + 1),
                                                   jnp.arange(order + 1)) / (order + 1))

        def f(bs, s):
            return geo.equations(point(bs, factor, jnp.stack([jnp.ones_like(s), s])))[k]

        values = jax.vmap(lambda bs: jax.vmap(partial(f, bs))(nodes))(bases)
        coeffs = (values @ inverse.T / (order + 1))[:, ::-1]  # highest power first
        roots, ok = polyroots(coeffs)
        new = bases[factor][:, None, :, 0] + roots[..., None] * bases[factor][:, None, :, 1]
        out = [jnp.repeat(b, order, axis=0) for b in bases]
        out[factor] = new.reshape(-1, new.shape[-1], 1)
        return out, jnp.repeat(ok & jnp.all(jnp.isfinite(roots), axis=1), order)

    def linear(bases, factor, k):
        def coefficients(bs):
            eye = jnp.eye(bs[factor].shape[1], dtype=bs[factor].dtype)
            return jax.vmap(lambda e: geo.equations(point(bs, factor, e))[k])(eye)

        kernel = jax.vmap(_householder_kernel)(jax.vmap(coefficients)(bases))
        out = list(bases)
        out[factor] = bases[factor] @ kernel
        return out

    def fn(key):
        bases = _random_bases(key, geo.factor_sizes, t, slices, sharding)
        ok = jnp.ones(slices, bool)
        for kind, factor, k in plan:
            if kind == "univariate":
                order = configuration[factor][k]
                bases, ok_step = univariate(bases, factor, k, order)
                ok = jnp.repeat(ok, order) & ok_step
            else:
                bases = linear(bases, factor, k)
        z = jnp.concatenate([b[:, :, 0] for b in bases], axis=1)
        z = jax.vmap(partial(_ambient_newton, geo))(z)
        ok = ok.reshape(slices, degree).all(axis=1) & jnp.all(jnp.isfinite(z), axis=1).reshape(
            slices, degree).all(axis=1)
        return z, jnp.repeat(ok, degree)

    return fn


def _ambient_newton(geo: rt.Geometry, z: jax.Array) -> jax.Array:
    """``NEWTON_STEPS`` minimum-norm Newton steps z -= J^H (J J^H)^{-1} p(z) onto X."""

    def step(_, z):
        jac = geo.jacobian(z)
        p = geo.equations(z)
        return z - jnp.conj(jac).T @ rt.solve_small(jac @ jnp.conj(jac).T, p[:, None])[:, 0]

    return jax.lax.fori_loop(0, NEWTON_STEPS, step, z)


def _multivariate(geo: rt.Geometry, t, degree: int, slices: int, configuration,
                  sharding=None):
    active = [a for a, ta in enumerate(t) if ta > 0]
    q = [configuration[a] for a in active]
    sizes = [t[a] + 1 for a in active]
    offsets = np.cumsum([0] + sizes)

    def embed(x, bases):
        parts = []
        for a, b in enumerate(bases):
            if a in active:
                i = active.index(a)
                parts.append(b @ x[offsets[i] : offsets[i + 1]])
            else:
                parts.append(b[:, 0])
        return jnp.concatenate(parts)

    def system(x, bases):
        return geo.equations(embed(x, bases))

    def jac(x, bases):
        jz = geo.jacobian(embed(x, bases))
        blocks = []
        for a in active:
            o, s = geo.offsets[a], geo.factor_sizes[a]
            blocks.append(jz[:, o : o + s] @ bases[a])
        return jnp.concatenate(blocks, axis=1)

    def fn(key):
        k_basis, k_solve = jax.random.split(key)
        bases = _random_bases(k_basis, geo.factor_sizes, t, slices, sharding)
        sol = homotopy.solve(system, [t[a] for a in active], q, bases, k_solve, jac=jac,
                             retries=1)
        points = jax.vmap(jax.vmap(embed, in_axes=(0, None)))(sol.x, bases)
        ok = sol.ok & jnp.all(jnp.isfinite(points), axis=(1, 2))
        return points.reshape(-1, points.shape[-1]), jnp.repeat(ok, degree)

    return fn


def slice_solvers(module, points_per_chunk: int, mesh=None) -> list[SliceSolver]:
    """One jitted solver per slice type, sized so a chunk has ~points_per_chunk points.

    The slice count per type is a power of two, and solvers are cached per module and
    count, so repeated sampling does not recompile.
    """
    total = sum(s["points"] for s in module.SPEC["slices"])
    slices = max(1, 2 ** math.ceil(math.log2(max(1, points_per_chunk / total))))
    return _solvers(module, slices, mesh)


@functools.lru_cache(maxsize=64)
def _solvers(module, slices: int, mesh=None) -> list[SliceSolver]:
    geo, spec = module.GEOMETRY, module.SPEC
    sharding = scale.batch_sharding(mesh)
    solvers = []
    for s in spec["slices"]:
        t, degree = tuple(s["t"]), s["points"]
        if s["plan"] is not None:
            fn = _triangular(geo, t, degree, slices, s["plan"], spec["configuration"], sharding)
        else:
            fn = _multivariate(geo, t, degree, slices, spec["configuration"], sharding)
        solvers.append(SliceSolver(t, degree, slices, jax.jit(fn)))
    return solvers


@functools.lru_cache(maxsize=64)
def point_function(module):
    """jit(vmap(point_data)) for the module's slice mixture."""
    ts = tuple(tuple(s["t"]) for s in module.SPEC["slices"])
    total = sum(s["points"] for s in module.SPEC["slices"])
    return jax.jit(jax.vmap(partial(measure.point_data, module.GEOMETRY, ts, total)))


def chunks(module, seed: int, points_per_chunk: int = 16384, mesh=None,
           purpose: str = "sample", shuffle: bool = True) -> Iterator[dict[str, np.ndarray]]:
    """Endless stream of chunks: every slice type's S slices, solved, shuffled (unless
    ``shuffle`` is False), with weights.

    Each chunk dict has the arrays of ``cygen.geometry.measure.point_data`` (good points
    only) plus ``discarded`` (slices dropped).  Deterministic for a given seed and
    ``purpose`` (chunk c's slice type i draws from ``cygen.core.seeds.substream``
    (seed, purpose, c, i), so different purposes never share points).  With a ``mesh``
    (``cygen.geometry.scale``) each chunk's slices are split across its devices (same
    points).
    """
    solvers = slice_solvers(module, points_per_chunk, mesh)
    data = point_function(module)
    index = 0
    while True:  # keys and the shuffle come from NumPy: no JAX compilation on the way
        points, oks, discarded = [], [], 0
        for i, solver in enumerate(solvers):
            z, ok = solver.fn(jax_key(substream(seed, purpose, index, i)))
            points.append(z)
            oks.append(ok)
            discarded += int(solver.slices - np.count_nonzero(scale.to_host(ok)) // solver.degree)
        z = jnp.concatenate(points)
        ok = scale.to_host(jnp.concatenate(oks))
        rng = np.random.default_rng(substream(seed, purpose, index, len(solvers)))
        order = rng.permutation(z.shape[0]) if shuffle else np.arange(z.shape[0])
        order = order[ok[order]]
        result = {k: scale.to_host(v)[order] for k, v in data(z).items()}
        result["discarded"] = discarded
        yield result
        index += 1


def metadata(module, seed: int, n: int, purpose: str = "sample") -> dict:
    """What a point set records: the manifold's identity (checked by every consumer), the
    seed and the purpose of the random stream, the measure."""
    spec = module.SPEC
    return {
        "identity": identity(spec),
        "purpose": purpose,
        "name": spec["name"],
        "source": spec["source"],
        "source_hash": spec["source_hash"],
        "params": spec["params_exact"],
        "kahler": spec["kahler"],
        "seed": seed,
        "n": n,
        "measure": "equal numbers of slices of each type t; a type-t slice samples "
        "prod_a omega_a^(n_a - t_a) restricted to X (omega_a in class H_a); "
        "weights = |Omega|^2 / density, mean(w f) = int_X f |Omega|^2 vol_0",
        "slices": [{"t": s["t"], "points": s["points"]} for s in spec["slices"]],
        "cygen": __version__,
    }


def refuse_singular(spec: dict) -> None:
    """A ``CygenError`` if the compiler found the member singular
    (``SPEC["singular_point"]``, ``cygen.compiler.analysis.singular``)."""
    point = spec.get("singular_point")
    if point is not None:
        where = ", ".join(f"{re:.4g}{im:+.4g}i" for re, im in point)
        nearest = spec.get("nearest_smooth_member")
        hint = ("" if nearest is None else f" (the nearest smooth member found: --param "
                f"{nearest['param']}={nearest['value']})")
        raise CygenError(f"{spec['name']} is singular: the Jacobian of the equations drops "
                         f"rank at z = ({where}); refusing to sample a singular variety{hint}")


SELECT_BUDGET = 2**25  # complex entries of the chart selection's minors per chunk (512 MB)


def chunk_limit(module) -> int:
    """Points per chunk for which choosing every point's chart (one K x K minor per admissible
    dependent set) stays within ``SELECT_BUDGET``: only configurations with thousands of
    dependent sets get chunks smaller than the default (and so other slices)."""
    sets = np.asarray(module.GEOMETRY.dependent_sets)
    per_point = max(1, sets.shape[0] * sets.shape[1] ** 2)
    return max(64, SELECT_BUDGET // per_point)


def draw(module, n: int, seed: int, sink, *, progress=None, chunk: int = 16384,
         devices: int | None = 1, purpose: str = "sample", shuffle: bool = True) -> dict:
    """Sample exactly ``n`` points, feeding each chunk to ``sink``; returns the summary.

    ``shuffle=False`` keeps each chunk's points in slice order (slice type, slice, root):
    members of a family sampled so share their slices point set by point set, which the
    finite differences of ``cygen.evaluate.moduli`` rely on.

    ``devices`` > 1 (``None``/0: all) shards every chunk's slices over a mesh
    (``cygen.scale``): the same points, in the same order, as one device.

    Raises ``cygen.errors.CygenError`` for n <= 0 and for singular manifolds.
    """
    if n <= 0:
        raise CygenError(f"the number of points must be positive, got {n}")
    start = time.perf_counter()
    taken, discarded, max_residual = 0, 0, 0.0
    weights, eta, vol = [], [], []
    mesh = scale.mesh(devices)
    chunk = min(chunk, max(n, 256), chunk_limit(module))
    for index, c in enumerate(chunks(module, seed, chunk, mesh, purpose, shuffle)):
        if index == 0:
            refuse_singular(module.SPEC)
        take = min(n - taken, len(c["weights"]))
        part = {k: v[:take] for k, v in c.items() if k != "discarded"}
        sink(part)
        weights.append(part["weights"])
        eta.append(part["det_fs"] / part["omega_sq"])
        vol.append(part["det_fs"] / part["rho"])
        max_residual = max(max_residual, float(np.max(part["residual"], initial=0.0)))
        discarded += c["discarded"]
        taken += take
        if progress is not None:
            progress(take)
        if taken >= n:
            break
    elapsed = time.perf_counter() - start
    w, e, v = (np.concatenate(x) for x in (weights, eta, vol))
    spec = module.SPEC
    return {
        "name": spec["name"],
        "n": int(taken),
        "seconds": round(elapsed, 3),
        "points_per_second": round(taken / elapsed, 1),
        "max_residual": max_residual,
        "sigma_fs": measure.sigma(w, e),
        "volume_fs_mc": float(np.mean(v)),
        "volume_fs_err": float(np.std(v) / np.sqrt(len(v))),
        "volume_fs_exact": spec["volume"],
        "slices_discarded": int(discarded),
        "seed": seed,
        "devices": scale.size(mesh),
    }


def sample(module_or_path, n: int, seed: int = 0, *, params=None, progress=None,
           devices: int | None = 1, purpose: str = "sample", shuffle: bool = True):
    """Sample ``n`` exact points of a manifold, with their Monte-Carlo weights.

    Every random slice contributes all its intersection points, and the weights divide
    |Ω|² by the density of the measure sampled, so ``mean(w f)`` estimates ∫_X f Ω∧Ω̄
    ([sampling](sampling.md)).  To stream to disk instead of memory, use ``draw``
    with a ``cygen.sampling.dataset.NpzWriter`` as the sink, as ``cygen sample`` does.

    Parameters
    ----------
    module_or_path : module or str or os.PathLike
        A loaded module (``cygen.load``) or a ``.cy``/``.py`` path.
    n : int
        The number of points (positive).
    seed : int, optional
        The seed; the points are a deterministic function of it (and of ``purpose``).
    params : iterable of str or mapping, optional
        Parameter overrides for a ``.cy`` path, e.g. ``["psi=0.1"]``.
    progress : callable, optional
        Called with the number of points taken after each chunk.
    devices : int or None, optional
        Shard every chunk's slices over this many devices (``None``/0: all); the points
        are the same as on one.
    purpose : str, optional
        The random stream of ``seed`` to draw from (``"sample"``, ``"train"``, ``"eval"``,
        ...): different purposes never share points.
    shuffle : bool, optional
        ``False`` keeps each chunk's points in slice order (what finite differences
        across a family rely on).

    Returns
    -------
    Dataset
        ``points``, ``weights``, ``omega_sq``, ``chart`` and ``metadata``; its
        ``metadata["summary"]`` is what ``cygen sample`` prints (σ of Fubini–Study, the
        volume self-test, the speed).

    Raises
    ------
    cygen.core.errors.CygenError
        For ``n <= 0`` and for a singular member.

    Examples
    --------
    >>> import cygen
    >>> data = cygen.sample("manifolds/torus.cy", 200, seed=0)
    >>> len(data), data.points.shape
    (200, (200, 3))
    >>> s = data.metadata["summary"]          # the self-test: the exact FS volume is 3
    >>> abs(s["volume_fs_mc"] - s["volume_fs_exact"]) < 1e-9, 0 < s["sigma_fs"] < 1
    (True, True)
    """
    module = as_module(module_or_path, params)
    parts: dict[str, list] = {name: [] for name in FIELDS}

    def sink(part):
        for name in FIELDS:
            parts[name].append(part[name])

    summary = draw(module, n, seed, sink, progress=progress, devices=devices, purpose=purpose,
                   shuffle=shuffle)
    meta = metadata(module, seed, n, purpose) | {"summary": summary}
    return Dataset(*(np.concatenate(parts[name]) for name in FIELDS), metadata=meta)
