"""Throughput of cygen.sampling.homotopy.solve: solutions per second on random slices.

Varieties: Tian-Yau (P3 x P3, slice P1 x P2, d = 9) and P5[3,3] (slice P2, d = 9).
Counts only solutions of slices reported ``ok`` (all d paths tracked, distinct).

    python benchmarks/bench_homotopy.py --batch 5000 --repeats 3 --out bench.json
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compile import machine  # noqa: E402

from cygen.sampling.homotopy import DEFAULT_OPTIONS, bezout_number, solve  # noqa: E402


def tian_yau(x, p):
    b1, b2 = p
    z, w = b1 @ x[:2], b2 @ x[2:]
    return jnp.stack([jnp.sum(z**3), jnp.sum(w**3), jnp.sum(z * w)])


def p5_33(x, p):
    b, c = p
    z = b @ x
    return jnp.stack([jnp.sum(z**3), jnp.sum(c * z**3) + z[0] * z[1] * z[2] + z[3] * z[4] * z[5]])


def cgauss(rng, *shape):
    return jnp.asarray((rng.normal(size=shape) + 1j * rng.normal(size=shape)) / np.sqrt(2))


SYSTEMS = {
    "tian_yau": (
        tian_yau,
        (1, 2),
        ((3, 0, 1), (0, 3, 1)),
        lambda r, n: (cgauss(r, n, 4, 2), cgauss(r, n, 4, 3)),
    ),
    "p5_33": (p5_33, (2,), ((3, 3),), lambda r, n: (cgauss(r, n, 6, 3), cgauss(r, n, 6))),
}


def bench(name: str, batch: int, repeats: int, streams: int, options: dict) -> dict:
    system, t, q, make = SYSTEMS[name]
    d = bezout_number(t, q)
    per = batch // streams
    fn = jax.jit(lambda p, k: solve(system, t, q, p, k, **options))
    rng = np.random.default_rng(0)
    params = [make(rng, per) for _ in range(streams)]
    t0 = time.perf_counter()
    jax.block_until_ready([fn(p, jax.random.key(0)) for p in params])  # compile + warm-up
    compile_s = time.perf_counter() - t0

    def run(i, rep, out):
        out[i] = jax.block_until_ready(fn(params[i], jax.random.key(1000 * rep + i + 1)))

    runs = []
    for rep in range(repeats):
        out = [None] * streams
        threads = [threading.Thread(target=run, args=(i, rep, out)) for i in range(streams)]
        t0, c0 = time.perf_counter(), time.process_time()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        ok = float(np.mean([np.asarray(r.ok).mean() for r in out]))
        steps = np.concatenate([np.asarray(r.steps).ravel() for r in out])
        n_sol = int(sum(np.asarray(r.ok).sum() for r in out)) * d
        runs.append(
            dict(
                wall_s=wall,
                cpu_s=cpu,
                solutions=n_sol,
                solutions_per_s=n_sol / wall,
                ok_fraction=ok,
                path_success=float(np.mean([np.asarray(r.success).mean() for r in out])),
                steps_mean=float(steps.mean()),
                steps_max=int(steps.max()),
            )
        )
        print(
            f"{name:9s} rep {rep}: {n_sol / wall:9.0f} solutions/s  wall {wall:6.2f}s "
            f"cpu {cpu:6.2f}s  ok {ok:.4f}  steps {steps.mean():.1f}/{steps.max()}",
            flush=True,
        )
    best = max(runs, key=lambda r: r["solutions_per_s"])
    return dict(
        system=name,
        paths_per_slice=d,
        batch=per * streams,
        streams=streams,
        compile_s=compile_s,
        best_solutions_per_s=best["solutions_per_s"],
        median_solutions_per_s=float(np.median([r["solutions_per_s"] for r in runs])),
        runs=runs,
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--systems", default="tian_yau,p5_33")
    ap.add_argument("--batch", type=int, default=6000, help="slices per timed call (all streams)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--streams", type=int, default=1, help="concurrent solver calls (threads)")
    ap.add_argument("--tol", type=float, default=DEFAULT_OPTIONS["tol"])
    ap.add_argument("--lanes", type=int, default=DEFAULT_OPTIONS["lanes"])
    ap.add_argument("--levels", type=int, default=DEFAULT_OPTIONS["levels"])
    ap.add_argument("--out", default=None, help="write results as JSON")
    args = ap.parse_args()
    options = dict(tol=args.tol, lanes=args.lanes, levels=args.levels)
    results = dict(
        machine=machine(),
        options={**DEFAULT_OPTIONS, **options},
        benchmarks=[
            bench(s, args.batch, args.repeats, args.streams, options)
            for s in args.systems.split(",")
        ],
    )
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
