"""Euler density speed and the accuracy of chi by integration.

Usage: python benchmarks/bench_euler.py [--out FILE.json] [--speed-points 65536]
                                        [--chi-points 100000] [--manifolds ...] [--no-chi]

* **speed**: steady-state throughput of ``jit(vmap(euler_form))`` (the top Chern form, all
  derivatives included, from sampled points and their charts) on the Fermat quintic, per batch
  size, for the closed-form Fubini-Study route (``metric_fn=None``), the generic autodiff
  route on ``runtime.fs_metric`` (what any metric function gets), and an untrained ``phi``
  model through its own jets (:mod:`cygen.learn.jets`, what ``euler`` uses for a phi run)
  and through generic autodiff.  First-call (trace + XLA
  compile) times and the load average (the machine is shared) are recorded.
* **accuracy**: ``cygen.euler`` with the FS metric on each manifold: chi_mc, its
  standard error, the agreement in standard errors, and the number of points needed for a 1%
  standard error, n_1% = (s / (0.01 |chi|))^2 with s the per-point standard deviation.
* **learned** (``--run DIR``): chi and the curvature summary (Ricci measure, c1.J, c2.J) of a
  trained run's metric and of FS on the same points.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402

MANIFOLDS = ["fermat_quintic", "dwork_quintic", "k3_quartic", "torus", "bicubic_generic",
             "tian_yau", "p5_33", "schoen"]


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def throughput(fn, z, charts, repeats: int = 5) -> tuple[float, float]:
    """(first call seconds, best steady points/s) of fn(z, charts)."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(fn(z, charts))
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(z, charts))
        best = min(best, time.perf_counter() - start)
    return first, len(z) / best


def speed(points: int, batches: list[int]) -> list[dict]:
    import jax
    import jax.numpy as jnp

    import cygen
    from cygen.geometry import curvature as cv
    from cygen.geometry import runtime as rt
    from cygen.learn.models import make_model
    from cygen.learn.runs import Run

    module = cygen.load(ROOT / "manifolds/fermat_quintic.cy")
    geo = module.GEOMETRY
    data = cygen.sample(module, points, seed=0)
    z, charts = jnp.asarray(data.points), jnp.asarray(data.chart)

    def fs(z, chart):
        return rt.fs_metric(geo, z, chart)

    model = make_model(geo, "phi")
    run = Run(Path("untrained"), {"model": {"name": "phi"}}, module, model,
              model.init(jax.random.PRNGKey(0)), None)
    routes = [("fs_closed_form", None, batches), ("fs_autodiff", fs, batches[:2]),
              ("phi_jets", run, [256, 1024, 4096]), ("phi_autodiff", run.metric_in, [256])]
    rows = []
    for name, metric_fn, sizes in routes:
        fn = jax.jit(jax.vmap(lambda z, c, m=metric_fn: cv.euler_form(m, geo, z, c)))
        for batch in sizes:
            before = load()
            first, rate = throughput(fn, z[:batch], charts[:batch])
            row = {"route": name, "manifold": "fermat_quintic", "batch": batch,
                   "first_call_s": round(first, 2), "points_per_s": round(rate),
                   "load_before": before, "load_after": load()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def accuracy(manifolds: list[str], n: int) -> list[dict]:
    import cygen

    rows = []
    for name in manifolds:
        module = cygen.load(ROOT / "manifolds" / f"{name}.cy")
        before = load()
        start = time.perf_counter()
        data = cygen.sample(module, n, seed=1)
        t_sample = time.perf_counter() - start
        result = cygen.euler(module, data=data)
        per_point = result["chi_err"] * math.sqrt(result["n"])  # per-point standard deviation
        chi = result["chi_topological"]
        row = {key: result[key] for key in ("name", "n", "chi_mc", "chi_err", "chi_topological",
                                            "sigmas", "relative_error", "agrees",
                                            "points_per_second")}
        row |= {
            "per_point_std": per_point,
            "points_for_1_percent": round((per_point / (0.01 * abs(chi))) ** 2) if chi else None,
            "points_for_err_0.5": round((per_point / 0.5) ** 2),
            "sampling_s": round(t_sample, 2),
            "load_before": before,
            "load_after": load(),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def learned(run_dir: str, n: int) -> dict:
    """chi and the curvature summary of a trained run and of FS on the same points."""
    import cygen
    from cygen.learn.runs import load_run

    run = load_run(run_dir)
    data = cygen.sample(run.module, n, seed=7)
    out = {"run": run_dir, "load_before": load()}
    for key, src in (("learned", run), ("fubini_study", run.module)):
        start = time.perf_counter()
        chi = cygen.euler(src, data=data)
        chi["seconds"] = round(time.perf_counter() - start, 2)
        out[key] = {"euler": chi, "curvature": cygen.curvature_summary(src, data=data)}
        print(json.dumps({key: chi}), flush=True)
    out["load_after"] = load()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/euler.json"))
    parser.add_argument("--speed-points", type=int, default=65536)
    parser.add_argument("--batches", nargs="+", type=int, default=[1024, 4096, 16384, 65536])
    parser.add_argument("--chi-points", type=int, default=100_000)
    parser.add_argument("--manifolds", nargs="+", default=MANIFOLDS)
    parser.add_argument("--no-chi", action="store_true", help="speed only")
    parser.add_argument("--run", help="a trained run directory: chi and curvature of its metric")
    parser.add_argument("--run-points", type=int, default=100_000)
    args = parser.parse_args()
    batches = [b for b in args.batches if b <= args.speed_points]
    result = {"benchmark": "euler", "machine": machine() | {"load_start": load()},
              "speed": speed(args.speed_points, batches)}
    if not args.no_chi:
        result["accuracy"] = accuracy(args.manifolds, args.chi_points)
    if args.run:
        result["learned"] = learned(args.run, args.run_points)
    result["machine"]["load_end"] = load()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
