"""Donaldson's balanced metrics: sigma_k against the literature, T-iteration speed, and
training phi from a balanced metric versus from Fubini-Study.

Usage: python benchmarks/bench_donaldson.py [--out FILE.json] [--quintic-k 1..6]
                                            [--eval-points 40000] [--ricci-points 500]
                                            [--train-minutes 1.0] [--skip-train]
                                            [--only quintic k3 tian_yau train]

* **quintic**: for k = 1..6, the balanced metric from the default number of T-operator points
  (5 n_k^2 + 20000, seed 0) and sigma on fresh points (seed 1000), against Douglas, Karp,
  Lukic and Reinbacher's sigma_k; seconds per T-iteration (median), iterations, points, the
  Ricci measure (cymetric's definition) on ``--ricci-points`` fresh points.
* **k3 / tian_yau**: the same at small k (Tian-Yau k = 3 with fewer T points: ``--ty3-points``).
* **train**: ``cygen.train`` of ``phi`` (3x64 GELU, batch 64, Adam 1e-3) on the quintic
  from FS and from ``init="donaldson:3"``, the same points, seed and wall-clock budget
  (``--train-minutes``, counted from the call, so the balanced metric's own cost is inside the
  budget); validation sigma per epoch and at the stop.
The machine and the load average (the machine is shared) are recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_compile import machine  # noqa: E402

SIGMA_DKLR = {1: 0.373, 2: 0.272, 3: 0.193, 4: 0.131, 5: 0.091, 6: 0.067}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def rows_for(path: Path, ks, eval_points: int, ricci_points: int, points=None) -> list[dict]:
    from cygen.evaluate.donaldson import table

    rows = []
    for k in ks:
        start = time.perf_counter()
        (row,) = table(path, [k], points=points, eval_points=eval_points,
                       ricci_points=ricci_points, seed=0)
        row["seconds_total"] = round(time.perf_counter() - start, 2)
        row["load"] = load()
        if "quintic" in path.stem:
            row["sigma_reference"] = SIGMA_DKLR.get(k)
        print(json.dumps({key: v for key, v in row.items() if key != "history"}), flush=True)
        rows.append(row)
    return rows


def train_compare(minutes: float, points: int) -> dict:
    from cygen.learn.trainer import train

    quintic = ROOT / "manifolds" / "fermat_quintic.cy"
    cfg = {"eval": {"ricci_points": 0, "kahler_points": 200}}
    out = {"points": points, "minutes": minutes, "model": "phi 3x64 gelu, batch 64, Adam 1e-3"}
    with tempfile.TemporaryDirectory() as tmp:
        for label, init in (("fs", None), ("donaldson3", "donaldson:3")):
            run = Path(tmp) / label
            start = time.perf_counter()
            metrics = train(quintic, run, points=points, epochs=200, max_minutes=minutes,
                            seed=0, model="phi", config=cfg, init=init)
            log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
            out[label] = {
                "sigma": metrics["sigma"], "sigma_fs": metrics["sigma_fs"],
                "epochs": metrics["epochs"], "status": metrics["status"],
                "wall_s": round(time.perf_counter() - start, 1),
                "curve": [(x["epoch"], x["wall_s"], x["val"]["sigma"]) for x in log],
                "load": load(),
            }
            print(label, json.dumps(out[label]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/donaldson.json"))
    parser.add_argument("--quintic-k", default="1..6")
    parser.add_argument("--eval-points", type=int, default=40_000)
    parser.add_argument("--ricci-points", type=int, default=500)
    parser.add_argument("--ty3-points", type=int, default=100_000)
    parser.add_argument("--train-minutes", type=float, default=1.0)
    parser.add_argument("--train-points", type=int, default=20_000)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--only", nargs="*", default=None,
                        help="Run only these sections (quintic k3 tian_yau train), merging "
                             "into an existing --out file.")
    args = parser.parse_args()

    from cygen.cli.donaldson import parse_ks

    out = Path(args.out)
    result = json.loads(out.read_text()) if args.only and out.exists() else {}
    result |= {"machine": machine(), "load_start": load()}
    m = ROOT / "manifolds"
    sections = {
        "quintic": lambda: rows_for(m / "fermat_quintic.cy", parse_ks(args.quintic_k),
                                    args.eval_points, args.ricci_points),
        "k3": lambda: rows_for(m / "k3_quartic.cy", [1, 2, 3, 4], 20_000, args.ricci_points),
        "tian_yau": lambda: rows_for(m / "tian_yau.cy", [1, 2], 20_000, args.ricci_points)
        + rows_for(m / "tian_yau.cy", [3], 20_000, 0, points=args.ty3_points),
        "train": lambda: train_compare(args.train_minutes, args.train_points),
    }
    for name, run in sections.items():
        if (args.only and name not in args.only) or (name == "train" and args.skip_train):
            continue
        result[name] = run()
        result["load_end"] = load()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")  # after every section
    print(f"wrote {out}")

if __name__ == "__main__":
    main()
