"""Compile time per manifold, and time to first evaluation of the generated fs_metric.

Usage: python benchmarks/bench_compile.py [--out benchmarks/results/compile.json]

* ``compile_cold_s``: a fresh ``python -c 'compile_file(...)'`` process, imports included
  (what a user waits for on ``cygen compile``);
* ``compile_warm_s``: the compile alone, in a process that has already imported cygen
  (best of 3);
* ``first_fs_metric_s``: load the module, then the first call of
  ``jit(vmap(fs_metric))`` on 1024 points (trace + XLA compile + run);
* ``fs_metric_points_per_s``: steady-state throughput of that call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def machine() -> dict:
    """The machine a benchmark ran on (every benchmark records this, from here)."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "platform": platform.platform(),
        "processor": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def cold_compile(path: Path) -> float:
    code = (
        "import time; t = time.perf_counter(); from cygen.compiler import compile_file; "
        f"compile_file({str(path)!r}); print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/compile.json"))
    parser.add_argument("--points", type=int, default=1024)
    args = parser.parse_args()

    import jax
    import numpy as np

    from cygen.compiler.loader import load
    from cygen.compiler.pipeline import compile_file

    rows = []
    for path in sorted((ROOT / "manifolds").glob("*.cy")):
        cold = cold_compile(path)
        warm = min(_timed(lambda p=path: compile_file(p)) for _ in range(3))
        module = load(path)
        n = len(module.SPEC["coordinates"])
        rng = np.random.default_rng(0)
        z = rng.normal(size=(args.points, n)) + 1j * rng.normal(size=(args.points, n))
        z = np.asarray(jax.vmap(module.normalize)(z))
        charts = np.asarray(jax.vmap(module.select_chart)(z))
        fn = jax.jit(jax.vmap(module.fs_metric))
        first = _timed(lambda fn=fn, z=z, c=charts: fn(z, c).block_until_ready())
        steady = min(_timed(lambda fn=fn, z=z, c=charts: fn(z, c).block_until_ready())
                     for _ in range(5))
        row = {
            "manifold": path.stem,
            "n_charts": len(module.SPEC["charts"]),
            "compile_cold_s": round(cold, 3),
            "compile_warm_s": round(warm, 3),
            "first_fs_metric_s": round(first, 3),
            "fs_metric_points_per_s": round(args.points / steady),
        }
        print(json.dumps(row))
        rows.append(row)
    result = {"benchmark": "compile", "machine": machine(), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
