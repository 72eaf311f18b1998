"""Sampling speed: the marginal cost of the whole `cygen sample` command between two sizes.

Usage: python benchmarks/bench_sampling.py [--manifolds fermat_quintic tian_yau ...]
                                           [--sizes 20000 220000] [--out FILE.json]

For each manifold, `cygen sample X.cy -n N -o tmp.npz --json` is run as a fresh process
for both sizes (weights, FS sigma, volume check and the .npz write included); the rate is
(N2 - N1) / (T2 - T1), so start-up is neither hidden nor counted.  Start-up (T1 minus
N1 / rate) is reported separately.  Each size is run once untimed first, so both timed runs
find the compiled-module and persistent XLA caches equally warm (a cold first size would
otherwise pay compilations the second size skips, and the difference would not be a rate);
the first run's wall time, with an empty cache directory, is reported as ``cold_s``.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402


def run(manifold: str, n: int, workdir: Path) -> tuple[float, dict]:
    """One ``cygen sample`` in a fresh process (its output removed after: cygen refuses to
    overwrite a point set, and this works for checkouts with and without ``--overwrite``)."""
    points = workdir / "points.npz"
    points.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "cygen.cli", "sample", str(ROOT / "manifolds" / f"{manifold}.cy"),
           "-n", str(n), "-o", str(points), "--json"]
    env = {**os.environ, "CYGEN_CACHE_DIR": str(workdir / "cache")}  # starts empty: cold
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return time.perf_counter() - start, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--manifolds", nargs="+", default=["fermat_quintic", "tian_yau"])
    parser.add_argument("--sizes", nargs=2, type=int, default=[20_000, 220_000])
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/sampling.json"))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for manifold in args.manifolds:
            cold, _ = run(manifold, args.sizes[0], Path(tmp))
            run(manifold, args.sizes[1], Path(tmp))  # both sizes' executables are cached now
            (t1, s1), (t2, s2) = (run(manifold, n, Path(tmp)) for n in args.sizes)
            rate = (args.sizes[1] - args.sizes[0]) / (t2 - t1)
            row = {
                "manifold": manifold,
                "sizes": args.sizes,
                "wall_s": [round(t1, 2), round(t2, 2)],
                "cold_s": round(cold, 2),
                "marginal_points_per_s": round(rate),
                "startup_s": round(t1 - args.sizes[0] / rate, 2),
                "sigma_fs": s2["sigma_fs"],
                "volume_fs_mc": s2["volume_fs_mc"],
                "volume_fs_err": s2["volume_fs_err"],
                "volume_fs_exact": s2["volume_fs_exact"],
                "max_residual": s2["max_residual"],
                "slices_discarded": s2["slices_discarded"],
            }
            print(json.dumps(row))
            rows.append(row)
    result = {"benchmark": "sampling", "machine": machine(), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
