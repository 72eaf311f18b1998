"""The invariant inputs of ``model.symmetry = "invariant"`` per leaderboard manifold, and their
cost: the compiler's table (largest degree, orbits, real inputs, terms), the time to compute
the inputs' order-1 jets of 10,000 points (what the trainer precomputes once per point)
beside the plain Hermitian features', and the time to pick the canonical element.

Usage: python benchmarks/bench_invariants.py [--out benchmarks/results/invariants.json]
           [--points 10000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402
from leaderboard import SUITE, member  # noqa: E402


def _timed(fn, *args) -> float:
    """Seconds of a jitted call after its compilation (best of 3)."""
    import jax

    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def one(name: str, n_points: int) -> dict:
    import jax
    import jax.numpy as jnp

    from cygen.geometry.local import local
    from cygen.learn import jets, symmetric
    from cygen.sampling.sampler import sample

    module, used, _ = member(*SUITE[name])
    geo, spec = module.GEOMETRY, module.SPEC
    data = sample(module, n_points, seed=0)
    z, charts = jnp.asarray(data.points), jnp.asarray(data.chart)
    inv = symmetric.invariants(spec, geo.factor_sizes)
    grp = symmetric.group(spec, geo)

    def plain(x, c):
        loc = local(geo, x, c)
        return jets.feature_jets(geo, loc.zc, loc.pullback)

    def invariant(x, c):
        loc = local(geo, x, c)
        return symmetric.invariant_jets(geo, inv, loc.zc, loc.pullback)

    def canonical(x, c):
        return symmetric.canonical_element(geo, grp, local(geo, x, c).zc)

    table = spec["symmetry_invariants"]
    return {"params": used, "symmetry_order": spec["symmetry_order"],
            "degree": table["degree"], "orbits": len(table["orbits"]),
            "inputs": inv.n_features, "terms": int(len(inv.ia)),
            "plain_inputs": sum(s * s for s in geo.factor_sizes),
            "group_elements_scored": int(len(grp.perms) + len(grp.angles)),
            **{f"{k}_s": _timed(jax.jit(jax.vmap(f)), z, charts)
               for k, f in (("plain_jets", plain), ("invariant_jets", invariant),
                            ("canonical_element", canonical))}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/invariants.json"))
    parser.add_argument("--points", type=int, default=10_000)
    args = parser.parse_args()
    import jax

    jax.config.update("jax_enable_x64", True)
    from cygen.core.io import atomic_write

    result = {"points": args.points, "entries": {}}
    for name in SUITE:
        result["entries"][name] = one(name, args.points)
        print(name, result["entries"][name], flush=True)
    result["machine"] = machine()
    atomic_write(Path(args.out), json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
