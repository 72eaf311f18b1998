"""Start-up cost of small jobs: whole CLI commands in fresh processes, and what `import` loads.

Usage: python benchmarks/bench_startup.py [--root CHECKOUT] [--label NAME] [--repeat 5]
                                          [--out benchmarks/results/startup.json]

Every command runs as ``python -m cygen.cli ...`` with ``PYTHONPATH=CHECKOUT`` (so an older
checkout, e.g. a ``git worktree`` of the previous commit, is measured the same way, back to
back on the same machine) and a private ``CYGEN_CACHE_DIR`` that is warmed by one untimed run
first (the compile and XLA caches hold what a second use of a command finds); ``compile`` and
``info`` are also timed with an empty cache directory each time (``*_cold``: a first use).
Reported: the median and the minimum wall time of ``--repeat`` runs of each command, and for
``import cygen`` and ``import cygen.compiler`` the modules loaded (whether jax is among them)
and the largest cumulative import times from ``python -X importtime``.

The JSON (``--out``) keeps one entry per ``--label``, so "before" and "after" sit side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {
    "help": ["--help"],
    "compile_quintic": ["compile", "manifolds/fermat_quintic.cy", "-o", "{tmp}/quintic.py"],
    "info_quintic": ["info", "manifolds/fermat_quintic.cy"],
    "sample_quintic_100k": ["sample", "manifolds/fermat_quintic.cy", "-n", "100000", "-o",
                            "{tmp}/points.npz"],
    "train_quintic_5_epochs": ["train", "manifolds/fermat_quintic.cy", "--out", "{tmp}/run",
                               "--points", "20000", "--epochs", "5"],
}
SLOW = {"train_quintic_5_epochs"}  # repeated fewer times (it is long)
COLD = ("compile_quintic", "info_quintic")  # also measured with an empty cache


def _env(root: Path, cache: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root)
    env["CYGEN_CACHE_DIR"] = str(cache)
    env.pop("PYTHONWARNINGS", None)
    return env


def _run(root: Path, cache: Path, args: list[str], tmp: Path) -> float:
    argv = [sys.executable, "-m", "cygen.cli", *(a.format(tmp=tmp) for a in args)]
    for stale in ("run", "points.npz", "quintic.py"):  # cygen refuses to overwrite outputs
        target = tmp / stale
        if target.exists():
            subprocess.run(["rm", "-rf", str(target)], check=True)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=root, env=_env(root, cache), capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def _imports(root: Path, cache: Path, statement: str) -> dict:
    code = f"import sys; {statement}; print('jax' in sys.modules, 'sympy' in sys.modules)"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=root,
                          env=_env(root, cache), capture_output=True, text=True, check=True)
    jax_loaded, sympy_loaded = (x == "True" for x in proc.stdout.split())
    rows = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, self_us, cumulative_us, name = (x.strip() for x in line.split("|", 1)[0].split(":")
                                           + line.split("|")[1:])
        rows.append((int(cumulative_us), name.strip()))
    top = sorted(rows, reverse=True)[:8]
    return {"jax_loaded": jax_loaded, "sympy_loaded": sympy_loaded,
            "largest_cumulative_ms": [[name, round(us / 1000, 1)] for us, name in top]}


def measure(root: Path, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cache = tmp / "cache"
        out: dict = {"commands": {}, "imports": {}}
        for name in COLD:  # an empty cache each time: what a first use costs
            times = [_run(root, tmp / f"cold_{name}_{i}", COMMANDS[name], tmp)
                     for i in range(repeat)]
            out["commands"][f"{name}_cold"] = {"median_s": round(statistics.median(times), 3),
                                               "min_s": round(min(times), 3), "runs": repeat}
            print(f"{name + '_cold':24s} median {statistics.median(times):6.2f} s  "
                  f"min {min(times):6.2f} s", flush=True)
        for name, args in COMMANDS.items():
            _run(root, cache, args, tmp)  # warm the compile and XLA caches
            n = 2 if name in SLOW else repeat
            times = [_run(root, cache, args, tmp) for _ in range(n)]
            out["commands"][name] = {"median_s": round(statistics.median(times), 3),
                                     "min_s": round(min(times), 3), "runs": n}
            print(f"{name:24s} median {statistics.median(times):6.2f} s  min {min(times):6.2f} s",
                  flush=True)
        for statement in ("import cygen", "import cygen.compiler", "import cygen.cli"):
            out["imports"][statement] = _imports(root, cache, statement)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--label", default="current")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/startup.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_compile import machine

    result = {"root": str(args.root.resolve()), "machine": machine(),
              **measure(args.root.resolve(), args.repeat)}
    data = json.loads(args.out.read_text()) if args.out.exists() else {}
    data[args.label] = result
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(result["imports"], indent=1))


if __name__ == "__main__":
    main()
