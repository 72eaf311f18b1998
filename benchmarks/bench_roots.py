"""Throughput of cygen.sampling.roots.polyroots (batched Aberth-Ehrlich) on random polynomials.

Usage: python benchmarks/bench_roots.py [--out benchmarks/results/roots.json]

For every degree and batch size: one warm-up call (trace + XLA compile, reported as
``first_call_s``), then ``--repeats`` timed calls on the same device-resident batch;
``polys_per_s`` uses the median time, ``polys_per_s_best`` the fastest.  Families:

* ``gauss``: i.i.d. complex normal coefficients;
* ``quintic_line``: ``p(t) = sum_i (a_i + t b_i)^5 + psi prod_i (a_i + t b_i)``
  for random complex ``a, b`` in C^5 (``psi = 0.5``), i.e. the degree-5
  polynomials a point sampler solves for lines meeting a Dwork quintic.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402


def polynomials(family: str, degree: int, n: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    if family == "gauss":
        shape = (n, degree + 1)
        return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    if family == "quintic_line":
        assert degree == 5
        a = rng.standard_normal((n, 5)) + 1j * rng.standard_normal((n, 5))
        b = rng.standard_normal((n, 5)) + 1j * rng.standard_normal((n, 5))
        # coefficients in t of prod_i (a_i + t b_i) and of sum_i (a_i + t b_i)^5, low first
        prod = np.zeros((n, 6), complex)
        prod[:, 0] = 1
        for i in range(5):
            prod[:, 1:] = prod[:, 1:] * a[:, i : i + 1] + prod[:, :-1] * b[:, i : i + 1]
            prod[:, 0] *= a[:, i]
        binom = np.array([1, 5, 10, 10, 5, 1])
        k = np.arange(6)
        powers = binom * a[:, :, None] ** (5 - k) * b[:, :, None] ** k  # (n, 5, 6)
        low_first = powers.sum(axis=1) + 0.5 * prod
        return low_first[:, ::-1]
    raise ValueError(family)


def bench(family: str, degree: int, n: int, repeats: int, seed: int = 0) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from cygen.sampling.roots import polyroots

    coeffs = jax.device_put(jnp.asarray(polynomials(family, degree, n, seed)))
    t = time.perf_counter()
    roots, ok = jax.block_until_ready(polyroots(coeffs))
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(polyroots(coeffs))
        times.append(time.perf_counter() - t)
    c, r = np.asarray(coeffs), np.asarray(roots)
    p, s = np.zeros(r.shape, complex), np.zeros(r.shape)
    for i in range(degree + 1):  # backward error |p(r)| / sum |a_i| |r|^(d-i)
        p = p * r + c[:, i : i + 1]
        s = s * np.abs(r) + np.abs(c[:, i : i + 1])
    median = statistics.median(times)
    return {
        "family": family,
        "degree": degree,
        "batch": n,
        "first_call_s": round(first, 3),
        "median_s": median,
        "best_s": min(times),
        "polys_per_s": n / median,
        "polys_per_s_best": n / min(times),
        "converged_fraction": float(np.mean(np.asarray(ok))),
        "max_rel_residual": float(np.max(np.abs(p) / s)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/roots.json"))
    parser.add_argument("--degrees", type=int, nargs="+", default=[5, 3])
    parser.add_argument("--batches", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)

    runs = []
    cases = [("gauss", d) for d in args.degrees]
    if 5 in args.degrees:
        cases.append(("quintic_line", 5))
    for family, degree in cases:
        for n in args.batches:
            result = bench(family, degree, n, args.repeats)
            runs.append(result)
            print(
                f"{family:13s} d={degree} batch={n:7d}: {result['polys_per_s']:.3e} polys/s "
                f"(best {result['polys_per_s_best']:.3e}), first call "
                f"{result['first_call_s']:.2f} s, converged {result['converged_fraction']:.6f}, "
                f"max rel residual {result['max_rel_residual']:.1e}",
                flush=True,
            )
    out = {"machine": machine(), "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
