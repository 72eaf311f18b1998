"""Speed of `cygen harmonic`: compile times and points per second of the pointwise pieces, and
the product-rule section jets against nested forward-mode differentiation of the sections.

Usage: python benchmarks/bench_harmonic.py [--cases dwork_quintic:1 p5_33_family:1 ...]
                                           [--points 4096] [--out FILE.json]

Per case (manifold:degree, the FS metric, the charge-matched basis of the first group):

* ``geometry``: the metric-free pieces (KS form and its derivatives, the sections' dbar and
  d dbar, div_Omega): first call on one batch (compile + run) and then points per second
  over ``--points`` points;
* ``metric``: the metric's part (g, its derivatives, the codifferentials, the g-orthonormal
  frame) the same way; what a new metric costs once the geometry is compiled;
* ``jets``: the sections' dbar and d dbar alone, by the product rule from the distinct fields
  and functions (``hm.section_jets``) and by nested forward-mode derivatives of every section
  (``hm.dbar_sections`` differentiated again), each compiled once and timed on one batch
  (the nested route only up to ``NESTED_MAX`` elements: its compile time grows fast).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402

from cygen.compiler.loader import load  # noqa: E402
from cygen.core.io import write_json  # noqa: E402
from cygen.evaluate import harmonic as eh  # noqa: E402
from cygen.geometry import harmonic as hm  # noqa: E402
from cygen.geometry import runtime as rt  # noqa: E402
from cygen.sampling.sampler import sample  # noqa: E402

NESTED_MAX = 64  # basis size up to which the nested reference is timed (its compile grows fast)


def _timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - start, out


def _rate(fn, batches, points: int) -> float:
    """``points`` (the rows of all ``batches``) per second of ``fn`` over the batches."""
    start = time.perf_counter()
    for args in batches:
        jax.block_until_ready(fn(*args))
    return points / (time.perf_counter() - start)


def pieces(module, basis, dirs, n: int) -> dict:
    data = sample(module, n, 0, purpose="harmonic-eval")
    z, chart = jnp.asarray(data.points), jnp.asarray(data.chart)
    w = jnp.asarray(np.asarray(data.weights, float))
    b = eh.BATCH
    batches = [(z[i:i + b], chart[i:i + b]) for i in range(0, n - b + 1, b)]
    geometry = eh.geometry_fn(module, basis, dirs)
    first_geo, _ = _timed(geometry, *batches[0])
    geo_rate = _rate(geometry, batches, b * len(batches))
    local = eh.metric_fn(partial(rt.fs_metric, module.GEOMETRY))
    parts = [geometry(*args) for args in batches]
    metric_batches = [(p, args[1], w[:b]) for p, args in zip(parts, batches, strict=True)]
    first_metric, _ = _timed(local, *metric_batches[0])
    metric_rate = _rate(local, metric_batches, b * len(batches))
    return {"geometry_first_call_s": round(first_geo, 2),
            "geometry_points_per_s": round(geo_rate, 1),
            "metric_first_call_s": round(first_metric, 2),
            "metric_points_per_s": round(metric_rate, 1),
            "combined_points_per_s": round(1 / (1 / geo_rate + 1 / metric_rate), 1)}


def jets(module, basis) -> dict:
    geo = module.GEOMETRY
    data = sample(module, eh.BATCH, 1, purpose="harmonic-eval")
    z, chart = jnp.asarray(data.points), jnp.asarray(data.chart)

    def nested(y, c):
        zc = rt.chart_point(geo, y, c)
        p = rt.frame_at(geo, zc, geo.jacobian(zc), c).pullback
        return (hm.dbar_sections(geo, basis, y, c),
                hm.holomorphic_derivative(lambda x: hm.dbar_sections(geo, basis, x, c), zc, p))

    def product(y, c):
        jet = hm.section_jets(geo, basis, y, c)
        return jet.dbar, jet.d_dbar

    out = {}
    results = {}
    for name, fn in (("product_rule", product), ("nested", nested)):
        f = jax.jit(jax.vmap(fn))
        first, results[name] = _timed(f, z, chart)
        run, _ = _timed(f, z, chart)
        out[name] = {"first_call_s": round(first, 2), "points_per_s": round(len(z) / run, 1)}
    scale = max(float(np.abs(np.asarray(results["nested"][1])).max()), 1e-300)
    out["max_difference"] = float(max(np.abs(np.asarray(a) - np.asarray(b)).max() for a, b in
                                      zip(results["product_rule"], results["nested"],
                                          strict=True)) / scale)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", nargs="+",
                        default=["dwork_quintic:1", "dwork_quintic:2", "p5_33_family:1"])
    parser.add_argument("--points", type=int, default=4096)
    parser.add_argument("--no-nested", action="store_true",
                        help="Skip the nested-differentiation reference (slow to compile).")
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/harmonic.json"))
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        manifold, degree = case.split(":")
        module = load(ROOT / "manifolds" / f"{manifold}.cy")
        dirs, basis = eh.basis_groups(module, int(degree))[0]
        row = {"manifold": manifold, "degree": int(degree), "basis": len(basis),
               "points": args.points, **pieces(module, basis, dirs, args.points)}
        if not args.no_nested and len(basis) <= NESTED_MAX:
            row["jets"] = jets(module, basis)
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_json(args.out, {"benchmark": "harmonic", "machine": machine(), "rows": rows})


if __name__ == "__main__":
    main()
