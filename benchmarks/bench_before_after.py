"""Before/after: the start-up, compile, sampling, Euler and training benchmarks of two
checkouts, interleaved on the same machine, and the ratios between them.

Usage: python benchmarks/bench_before_after.py --before CHECKOUT [--after CHECKOUT]
           [--parts startup compile sampling euler train] [--out-dir benchmarks/results/layers]

``CHECKOUT`` is a source tree (for example ``git worktree add /tmp/before <commit>``); each
benchmark runs in fresh processes with ``PYTHONPATH=CHECKOUT`` and a private, initially empty
``CYGEN_CACHE_DIR`` per checkout.  The part order is startup, compile, sampling, Euler,
training, and within each part "before" runs first, then "after", so a change in the load
of a shared machine hits both sides of a comparison alike (the load is recorded).

The command-line benchmarks (``bench_startup.py``, ``bench_sampling.py``) are this
checkout's scripts for both sides (the same method); the API benchmarks (``bench_compile.py``,
``bench_euler.py --no-chi``, ``bench_train.py --parts ab``) are each checkout's own, since
the Python import paths differ between them.

Writes ``OUT_DIR/{before,after}/<part>.json``, ``OUT_DIR/startup.json`` (both labels) and
``OUT_DIR/summary.json``: per measure, before, after and after/before (for times; for rates
before/after), so a ratio above 1 is always "after is slower".
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
PARTS = ("startup", "compile", "sampling", "euler", "train")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def command(part: str, root: Path, label: str, out_dir: Path) -> list[str]:
    """The benchmark command of ``part`` for the checkout ``root``."""
    own = root / "benchmarks"
    out = out_dir / label / f"{part}.json"
    return {
        "startup": [str(ROOT / "benchmarks/bench_startup.py"), "--root", str(root), "--label",
                    label, "--repeat", "5", "--out", str(out_dir / "startup.json")],
        "compile": [str(own / "bench_compile.py"), "--out", str(out)],
        "sampling": [str(ROOT / "benchmarks/bench_sampling.py"), "--out", str(out)],
        "euler": [str(own / "bench_euler.py"), "--no-chi", "--out", str(out)],
        "train": [str(own / "bench_train.py"), "--parts", "ab", "--out", str(out)],
    }[part]


def run(part: str, root: Path, label: str, out_dir: Path, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(root), "CYGEN_CACHE_DIR": str(cache)}
    env.pop("PYTHONWARNINGS", None)
    (out_dir / label).mkdir(parents=True, exist_ok=True)
    before, start = load_average(), time.perf_counter()
    subprocess.run([sys.executable, *command(part, root, label, out_dir)], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    row = {"part": part, "label": label, "wall_s": round(time.perf_counter() - start, 1),
           "load_before": before, "load_after": load_average()}
    print(json.dumps(row), flush=True)
    return row


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def measures(out_dir: Path, label: str) -> dict[str, tuple[float, str]]:
    """The compared measures of one side: name -> (value, "time" or "rate")."""
    found: dict[str, tuple[float, str]] = {}
    startup = _read(out_dir / "startup.json").get(label, {})
    for name, row in startup.get("commands", {}).items():
        found[f"startup.{name}.median_s"] = (row["median_s"], "time")
    for row in _read(out_dir / label / "compile.json").get("results", []):
        found[f"compile.{row['manifold']}.cold_s"] = (row["compile_cold_s"], "time")
        found[f"compile.{row['manifold']}.warm_s"] = (row["compile_warm_s"], "time")
        found[f"compile.{row['manifold']}.fs_points_per_s"] = (row["fs_metric_points_per_s"],
                                                               "rate")
    for row in _read(out_dir / label / "sampling.json").get("results", []):
        found[f"sampling.{row['manifold']}.points_per_s"] = (row["marginal_points_per_s"], "rate")
        found[f"sampling.{row['manifold']}.startup_s"] = (row["startup_s"], "time")
    for row in _read(out_dir / label / "euler.json").get("speed", []):
        found[f"euler.{row['route']}.{row['batch']}.points_per_s"] = (row["points_per_s"], "rate")
    train = _read(out_dir / label / "train.json")
    for key in ("a_cymetric_setting", "b_cymyc_setting"):
        if key in train:
            part = train[key]
            found[f"train.{key[0]}.s_per_epoch_median"] = (part["train_s_per_epoch_median"],
                                                          "time")
            found[f"train.{key[0]}.s_per_epoch_best"] = (part["train_s_per_epoch_best"], "time")
    return found


def summary(out_dir: Path) -> dict:
    before, after = measures(out_dir, "before"), measures(out_dir, "after")
    rows = {}
    for name in sorted(before.keys() & after.keys()):
        (b, kind), (a, _) = before[name], after[name]
        slower = a / b if kind == "time" else b / a
        rows[name] = {"before": b, "after": a, "slowdown": round(slower, 3)}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, default=ROOT)
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks/results/layers")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_compile import machine

    out_dir = args.out_dir.resolve()
    log = []
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts:
            for label, root in (("before", args.before), ("after", args.after)):
                log.append(run(part, root.resolve(), label, out_dir, Path(tmp) / label))
    commits = {label: subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                     capture_output=True, text=True).stdout.strip()
               for label, root in (("before", args.before), ("after", args.after))}
    result = {"benchmark": "before_after", "machine": machine(), "commits": commits,
              "log": log, "measures": summary(out_dir)}
    (out_dir / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    worst = max(result["measures"].items(), key=lambda kv: kv[1]["slowdown"])
    print(f"largest slowdown: {worst[0]} x{worst[1]['slowdown']}")


if __name__ == "__main__":
    main()
