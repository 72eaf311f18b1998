"""Scaling with the device count: sampling points/s and training s/epoch (cygen.scale).

Usage: python benchmarks/bench_scale.py [--out FILE.json] [--devices 1 2 4]
                                        [--sample-points 8192] [--train-points 8000]
                                        [--epochs 3] [--manifold fermat_quintic]

Each device count runs in its own subprocess with
``XLA_FLAGS=--xla_force_host_platform_device_count=D`` (CPU "devices" unless JAX finds an
accelerator).  Sampling: ``cygen.sample(..., devices=D)`` twice with the same chunk size, the
second (compiled) call timed.  Training: ``cygen.train(..., devices=D)`` (phi model,
float32, batch 64); s/epoch is the optimiser time of the epochs after the first (which
includes compilation).  On forced host devices of one CPU this measures the overhead of the
sharded program (the devices share the same cores), not a speed-up.
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

CHILD = """
import json, sys, time
from pathlib import Path
import jax
import cygen
from cygen.sampling.sampler import sample
from cygen.learn.trainer import train

d, manifold, n_sample, n_train, epochs, out = sys.argv[1:7]
d, n_sample, n_train, epochs = int(d), int(n_sample), int(n_train), int(epochs)
module = cygen.load(manifold)
t = time.perf_counter()
sample(module, n_sample, seed=0, devices=d)
first = time.perf_counter() - t
t = time.perf_counter()
ds = sample(module, n_sample, seed=1, devices=d)
steady = time.perf_counter() - t
ds.save(Path(out) / "data.npz")
cfg = {"eval": {"kahler_points": 0, "ricci_points": 0}, "batch_size": 64}
run = Path(out) / f"run{d}"
train(module, run, data=Path(out) / "data.npz", points=n_train, epochs=epochs, config=cfg,
      devices=d)
log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
train_s = [x["train_s"] for x in log]
print("RESULT " + json.dumps({
    "devices": d, "jax_devices": len(jax.devices()), "platform": jax.devices()[0].platform,
    "sample_points": n_sample, "sample_first_s": round(first, 3),
    "sample_points_per_s": round(n_sample / steady, 1),
    "train_points": n_train, "epochs": epochs,
    "train_first_epoch_s": round(train_s[0], 3),
    "train_s_per_epoch": round((train_s[-1] - train_s[0]) / max(1, epochs - 1), 3),
}))
"""


def run_one(d: int, manifold: Path, n_sample: int, n_train: int, epochs: int) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={d}"}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, str(d), str(manifold),
                               str(n_sample), str(n_train), str(epochs), tmp],
                              capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
        result = json.loads(line[len("RESULT "):])
        result["wall_s"] = round(time.perf_counter() - start, 1)
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/scale.json"))
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--sample-points", type=int, default=8192)
    parser.add_argument("--train-points", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--manifold", default="fermat_quintic")
    args = parser.parse_args()
    manifold = ROOT / "manifolds" / f"{args.manifold}.cy"
    rows = []
    for d in args.devices:
        rows.append(run_one(d, manifold, args.sample_points, args.train_points, args.epochs))
        print(json.dumps(rows[-1]), flush=True)
    result = {"benchmark": "scale", "manifold": args.manifold, "machine": machine(),
              "note": "forced host devices (XLA_FLAGS=--xla_force_host_platform_device_count) "
                      "share the same CPU cores: this measures sharding overhead, not speed-up; "
                      "no GPU was available",
              "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
