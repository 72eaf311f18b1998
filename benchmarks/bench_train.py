"""Metric training on the Fermat quintic: speed at the peers' settings and the headline run.

Usage: python benchmarks/bench_train.py [--out benchmarks/results/train.json] [--parts abc]

* (a) cymetric's setting: phi 3x64 GELU, batch 64, 90k training points (100k, 90/10):
  seconds per epoch (cymetric 16.5 s; target <= 5.5 s);
* (b) cymyc's setting: phi 4x48 GELU, batch 1024, 80k training points: seconds per epoch,
  training points/s (cymyc 3.75 s, 21,300/s; target >= 2x) and sigma after 20 epochs
  (cymyc 0.083);
* (c) the headline: 100k points (90/10), phi 3x64, validation sigma <= 0.01 within 7 minutes
  of wall time (everything after sampling: precomputation, compilation, training,
  validation, checkpoints): the sigma-vs-time curve.

Per-epoch times come from the run's ``log.jsonl`` (``train_s``: optimiser steps only, wall
clock; ``train_cpu_s``: the same in process CPU time, which a shared machine inflates less;
``wall_s``: everything).  The first epoch includes compilation and is reported separately.
The load average is recorded: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402

QUINTIC = ROOT / "manifolds" / "fermat_quintic.cy"


def _log(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines() if x.strip()]


def _per_epoch(log: list[dict], key: str) -> list[float]:
    values = [x[key] for x in log]
    return [values[0]] + [b - a for a, b in zip(values, values[1:], strict=False)]


def _speed(run: Path, n_train: int) -> dict:
    log = _log(run)
    train = _per_epoch(log, "train_s")
    wall = _per_epoch(log, "wall_s")
    cpu = _per_epoch(log, "train_cpu_s")
    steady = train[1:] or train
    return {
        "train_cpu_s_per_epoch_median": round(statistics.median(cpu[1:] or cpu), 3),
        "train_points_per_cpu_s_median": round(n_train / statistics.median(cpu[1:] or cpu)),
        "epochs": len(log),
        "first_epoch_train_s": round(train[0], 3),
        "train_s_per_epoch_median": round(statistics.median(steady), 3),
        "train_s_per_epoch_best": round(min(steady), 3),
        "wall_s_per_epoch_median": round(statistics.median(wall[1:] or wall), 3),
        "train_points_per_s_median": round(n_train / statistics.median(steady)),
        "train_points_per_s_best": round(n_train / min(steady)),
        "val_sigma": [round(x["val"]["sigma"], 5) for x in log],
    }


def part_a(data: Path, work: Path, epochs: int) -> dict:
    from cygen.learn.trainer import train

    load0 = os.getloadavg()
    cfg = {"model": {"widths": [64, 64, 64], "activation": "gelu"}, "batch_size": 64,
           "eval": {"kahler_points": 0, "ricci_points": 0}}
    m = train(QUINTIC, work / "a", data=data, epochs=epochs, config=cfg)
    return {"setting": "phi 3x64 GELU, batch 64, Adam 1e-3, float32, 90k training points",
            "reference_s_per_epoch": {"cymetric": 16.5, "target": 5.5},
            **_speed(work / "a", m["n_train"]), "loadavg_before": load0,
            "loadavg_after": os.getloadavg()}


def part_b(data: Path, work: Path, epochs: int) -> dict:
    from cygen.learn.trainer import train

    load0 = os.getloadavg()
    cfg = {"model": {"widths": [48, 48, 48, 48], "activation": "gelu"}, "batch_size": 1024,
           "micro_batch": 0, "optimizer": {"lr": 3e-3, "schedule": "cosine",
                                             "final_lr": 1e-4},
           "eval": {"kahler_points": 0, "ricci_points": 0}}
    m = train(QUINTIC, work / "b", data=data, points=88_889, epochs=epochs, config=cfg)
    return {"setting": "phi 4x48 GELU, batch 1024 (one pass, no micro-batches), Adam 3e-3 cosine "
                       "to 1e-4, float32, 80k training points",
            "reference": {"cymyc_s_per_epoch": 3.75, "cymyc_points_per_s": 21300,
                          "target_points_per_s": 42600, "cymyc_sigma_20_epochs": 0.083},
            **_speed(work / "b", m["n_train"]), "sigma_final": m["sigma"],
            "sigma_fs": m["sigma_fs"], "loadavg_before": load0,
            "loadavg_after": os.getloadavg()}


HEADLINE = {
    "model": {"widths": [64, 64, 64], "activation": "gelu"},
    "batch_size": 64,
    "optimizer": {"lr": 2e-3, "schedule": "cosine", "final_lr": 1e-5, "horizon_epochs": 70},
    "eval": {"kahler_points": 1000, "ricci_points": 0},
}


def part_c(data: Path, work: Path, minutes: float, config: dict) -> dict:
    from cygen.learn.trainer import train

    load0 = os.getloadavg()
    start = time.monotonic()
    m = train(QUINTIC, work / "c", data=data, epochs=10_000, max_minutes=minutes,
              config=config)
    elapsed = time.monotonic() - start
    log = _log(work / "c")
    curve = [{"epoch": x["epoch"], "wall_s": x["wall_s"], "val_sigma": x["val"]["sigma"]}
             for x in log]
    reached = next((x["wall_s"] for x in curve if x["val_sigma"] <= 0.01), None)
    return {"setting": config, "budget_min": minutes, "reached_0.01_at_s": reached,
            "sigma_final": m["sigma"], "sigma_fs": m["sigma_fs"], "kahler": m["kahler"],
            "volume": m["volume_mc"], "volume_exact": m["volume_exact"],
            "transition": m["transition"], "epochs": m["epochs"], "status": m["status"],
            "wall_s": elapsed, "curve": curve, "loadavg_before": load0,
            "loadavg_after": os.getloadavg()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/train.json"))
    parser.add_argument("--parts", default="abc", help="which of a, b, c to run")
    parser.add_argument("--epochs-a", type=int, default=4)
    parser.add_argument("--epochs-b", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=7.0)
    parser.add_argument("--config-c", default=None, help="JSON overriding the headline config")
    parser.add_argument("--work", default=None, help="keep the runs here (default: temporary)")
    args = parser.parse_args()

    import cygen

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_train_"))
    work.mkdir(parents=True, exist_ok=True)
    for part in "abc":
        shutil.rmtree(work / part, ignore_errors=True)
    data = work / "quintic_100k.npz"
    t = time.monotonic()
    if not data.exists():
        cygen.sample(cygen.load(QUINTIC), 100_000, seed=0).save(data)
    result = {"machine": machine(), "sampling_s": round(time.monotonic() - t, 1),
              "argv": sys.argv[1:]}
    if "a" in args.parts:
        result["a_cymetric_setting"] = part_a(data, work, args.epochs_a)
        print(json.dumps(result["a_cymetric_setting"], indent=1), flush=True)
    if "b" in args.parts:
        result["b_cymyc_setting"] = part_b(data, work, args.epochs_b)
        print(json.dumps(result["b_cymyc_setting"], indent=1), flush=True)
    if "c" in args.parts:
        config = HEADLINE if args.config_c is None else json.loads(args.config_c)
        result["c_headline"] = part_c(data, work, args.minutes, config)
        print(json.dumps({k: v for k, v in result["c_headline"].items() if k != "curve"},
                         indent=1), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
