"""Speed of `cygen moduli`: points per second of the Weil-Petersson metric alone and with the
Yukawa couplings, and the marginal rate of the whole command.

Usage: python benchmarks/bench_moduli.py [--manifolds dwork_quintic p5_33_family ...]
                                         [--sizes 50000 550000] [--seeds 8] [--out FILE.json]

Per manifold (each at its shipped parameter values, declared moduli):

* ``kernel``: the jitted per-point integrand with its group sums, timed on points already
  sampled (after one warm-up call at the same batch shape), for G only and for G + Yukawa;
* ``command``: ``cygen moduli X.cy -n N --json`` in a fresh process for both sizes (each run
  once untimed first so the persistent caches are equally warm); the marginal rate is
  (N2 - N1) / (T2 - T1), so start-up (printed separately) is neither hidden nor counted;
* ``seeds`` (the Dwork quintic at psi = 0 only, where G and lambda are known exactly): the
  spread of G and lambda over independent seeds against the mean jackknife error, which is
  how the error estimate is checked (docs/moduli.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402

from cygen.compiler.loader import load  # noqa: E402
from cygen.core.io import write_json  # noqa: E402
from cygen.evaluate import moduli as em  # noqa: E402
from cygen.evaluate.periods import dwork_exact  # noqa: E402
from cygen.sampling.sampler import sample  # noqa: E402


def kernel_rate(module, n: int, full: bool) -> float:
    """Points per second of the per-point integrand and its sums on ``n`` sampled points:
    one timed pass after a warm-up on the first two batches (same shapes, so compiled).
    (Repeated full passes of one jitted function over p5_33_family's points were seen to
    hang inside XLA:CPU on this machine; see docs/benchmarks.md.)"""
    data = sample(module, n, 0, purpose="moduli")
    fn = em.point_function(module, None, full)
    em.accumulate(fn, data.subset(np.arange(2 * em.BATCH)), em.GROUPS, em.BATCH)  # compile
    start = time.perf_counter()
    em.accumulate(fn, data, em.GROUPS, em.BATCH)
    return n / (time.perf_counter() - start)


def command(manifold: str, n: int, workdir: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "cygen.cli", "moduli", str(ROOT / "manifolds" / f"{manifold}.cy"),
           "-n", str(n), "--json"]
    env = {**os.environ, "CYGEN_CACHE_DIR": str(workdir / "cache")}
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, json.loads(out.stdout)


def seed_spread(seeds: int, n: int) -> dict:
    """G and lambda of the Fermat quintic point over ``seeds`` seeds, against the exact values."""
    path = ROOT / "manifolds" / "dwork_quintic.cy"
    rows = [em.moduli(path, n=n, seed=s, params={"psi": "0"}) for s in range(seeds)]
    g = np.array([r["wp_metric"]["re"][0][0] for r in rows])
    g_err = np.array([r["wp_metric_err"][0][0] for r in rows])
    lam = np.array([r["yukawa_normalised"][0][0][0] for r in rows])
    lam_err = np.array([r["yukawa_normalised_err"][0][0][0] for r in rows])
    exact = dwork_exact(0)
    return {"points": n, "seeds": seeds,
            "g": g.tolist(), "g_err": g_err.tolist(), "g_exact": exact["wp_metric"],
            "g_spread": float(g.std(ddof=1)), "g_err_mean": float(g_err.mean()),
            "g_pulls": ((g - exact["wp_metric"]) / g_err).tolist(),
            "lambda": lam.tolist(), "lambda_err": lam_err.tolist(),
            "lambda_exact": exact["yukawa_normalised"],
            "lambda_spread": float(lam.std(ddof=1)), "lambda_err_mean": float(lam_err.mean()),
            "lambda_pulls": ((lam - exact["yukawa_normalised"]) / lam_err).tolist()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifolds", nargs="+",
                        default=["dwork_quintic", "p5_33_family", "tian_yau_family"])
    parser.add_argument("--sizes", nargs=2, type=int, default=[50_000, 550_000])
    parser.add_argument("--kernel-points", type=int, default=40_000)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed-points", type=int, default=40_000)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/moduli.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for manifold in args.manifolds:
            module = load(ROOT / "manifolds" / f"{manifold}.cy")
            g_rate = kernel_rate(module, args.kernel_points, full=False)
            gy_rate = kernel_rate(module, args.kernel_points, full=True)
            for n in args.sizes:
                command(manifold, n, Path(tmp))  # warm the caches for both sizes
            (t1, _), (t2, doc) = (command(manifold, n, Path(tmp)) for n in args.sizes)
            rate = (args.sizes[1] - args.sizes[0]) / (t2 - t1)
            row = {"manifold": manifold, "moduli": len(module.SPEC["moduli"]),
                   "kernel_points": args.kernel_points,
                   "kernel_g_points_per_s": round(g_rate), "kernel_g_yukawa_points_per_s":
                   round(gy_rate), "command_sizes": args.sizes,
                   "command_wall_s": [round(t1, 2), round(t2, 2)],
                   "command_marginal_points_per_s": round(rate),
                   "command_startup_s": round(t1 - args.sizes[0] / rate, 2),
                   "wp_metric_diag": np.diag(doc["wp_metric"]["re"]).tolist()}
            print(json.dumps(row), flush=True)
            rows.append(row)
    spread = seed_spread(args.seeds, args.seed_points) if args.seeds else None
    doc = {"benchmark": "moduli", "machine": machine(), "rows": rows, "seed_check": spread}
    write_json(args.out, doc)
    print(json.dumps(spread))


if __name__ == "__main__":
    main()
