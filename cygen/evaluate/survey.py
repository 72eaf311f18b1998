"""Surveys over the CICY list: compile, sample, sigma_FS and chi for many manifolds.

:func:`run` takes entries of ``cicy3.json`` (``id``, ``ambient``, ``matrix``, ``euler``,
``product``, ...), and for each one

1. writes ``DIR/manifolds/cicy_<id>.cy`` (:func:`source`: ``ambient P^n1[a] * ...`` and one
   ``eq generic(d_1, ..., d_m; seed=S)`` per column of the configuration matrix) and compiles
   it (:func:`cygen.load`, cached);
2. samples ``points`` points (:func:`cygen.sampling.sampler`, optionally sharded over devices);
3. records sigma of the Fubini-Study metric and chi by integrating its top Chern form on the
   same points (:func:`cygen.euler.euler`), with the list's chi and the compiler's.

Every manifold runs in its own worker process (``workers`` at a time, a per-manifold
``timeout``), and its JSON row is appended to ``DIR/results.jsonl`` by the parent in one
``write`` + ``fsync`` (a reader never sees half a row).  Rows already in the file are skipped,
so an interrupted survey resumes where it stopped.  Failures are rows too (``status``
``"error"`` with the message, ``"timeout"``, or ``"skipped"`` for block-diagonal products,
which the list gives without Hodge data), never crashes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any

import numpy as np

from cygen.compiler.loader import load
from cygen.core.cicy import load_list
from cygen.core.io import jsonable
from cygen.evaluate.integrals import euler
from cygen.sampling.sampler import sample

NAMES = "abcdefghjklmnopq"  # factor coordinate prefixes (P^n[a] has a0..an)
RESULTS = "results.jsonl"
STARTUP_S = 300  # grace for a worker's start-up (importing JAX) before ``timeout`` counts
DONE = ("ok", "skipped")  # statuses a resumed survey does not redo (errors: retry_errors)


def select(entries: Sequence[dict], ids: Iterable[int] | None = None, limit: int | None = None,
           shard: tuple[int, int] = (0, 1), *, random: int | None = None,
           seed: int = 0) -> list[dict]:
    """Entries with the given ``ids`` (in that order; all when None) or, with ``random``,
    that many drawn without replacement (a permutation fixed by ``seed``, ids ascending),
    then every ``shard[1]``-th starting at ``shard[0]`` (for independent processes or
    hosts), then the first ``limit``."""
    if random is not None:
        order = np.random.default_rng([seed, 536]).permutation(len(entries))[:random]
        entries = sorted((entries[i] for i in order), key=lambda e: int(e["id"]))
    if ids is not None:
        by_id = {int(e["id"]): e for e in entries}
        missing = [i for i in ids if int(i) not in by_id]
        if missing:
            raise KeyError(f"ids not in the list: {missing}")
        entries = [by_id[int(i)] for i in ids]
    index, count = shard
    entries = list(entries)[index::count]
    return entries[:limit] if limit is not None else entries


def source(entry: dict, seed: int = 0) -> str:
    """The ``.cy`` text of a configuration matrix with generic (seeded) equations."""
    ambient, matrix = entry["ambient"], entry["matrix"]
    if len(ambient) > len(NAMES):
        raise ValueError(f"{len(ambient)} factors: at most {len(NAMES)} supported")
    factors = " * ".join(f"P{n}[{NAMES[a]}]" for a, n in enumerate(ambient))
    lines = [f"# CICY #{entry['id']} (configuration matrix {matrix}), generic equations",
             f"name cicy_{entry['id']}", f"ambient {factors}"]
    for column in zip(*matrix, strict=True):
        lines.append(f"eq generic({', '.join(str(d) for d in column)}; seed={seed})")
    return "\n".join(lines) + "\n"


def _base_row(entry: dict) -> dict:
    return {"id": int(entry["id"]), "ambient": entry["ambient"], "matrix": entry["matrix"],
            "h11": entry.get("h11"), "h21": entry.get("h21"), "euler_list": entry.get("euler")}


def survey_one(entry: dict, out_dir: str, points: int, seed: int = 0,
               devices: int | None = 1) -> dict:
    """Compile, sample and integrate one entry; a result row (errors become rows)."""
    row = _base_row(entry)
    if entry.get("product"):
        return row | {"status": "skipped", "error": "block-diagonal (product) configuration: "
                      "a product manifold, not a single CICY (the list has no Hodge data)"}
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    try:

        path = Path(out_dir) / "manifolds" / f"cicy_{entry['id']}.cy"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source(entry, seed), encoding="utf-8")
        t = time.perf_counter()
        module = load(path)
        timings["compile_s"] = time.perf_counter() - t
        t = time.perf_counter()
        data = sample(module, points, seed=seed, devices=devices, purpose="survey")
        timings["sample_s"] = time.perf_counter() - t
        t = time.perf_counter()
        chi = euler(module, data=data, devices=devices)
        timings["euler_s"] = time.perf_counter() - t
        summary = data.metadata["summary"]
        spec = module.SPEC
        row |= {
            "status": "ok",
            "name": spec["name"],
            "n": len(data),
            "sigma_fs": summary["sigma_fs"],
            "volume_fs_mc": summary["volume_fs_mc"],
            "volume_fs_err": summary["volume_fs_err"],
            "volume_fs_exact": summary["volume_fs_exact"],
            "slices_discarded": summary["slices_discarded"],
            "chi_mc": chi["chi_mc"],
            "chi_err": chi["chi_err"],
            "chi_topological": spec["euler"],
            "chi_sigmas": chi["sigmas"],
            "chi_agrees": chi["agrees"],
            "topology_matches_list": spec["euler"] == entry.get("euler"),
            "charts": len(spec["charts"]),
            "devices": chi["devices"],
            "points_per_second": summary["points_per_second"],
        }
    except Exception as exc:  # noqa: BLE001 - one failed manifold must not stop a survey
        row |= {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:2000],
                "traceback": traceback.format_exc(limit=4)[-2000:]}
    timings["total_s"] = time.perf_counter() - t_all
    row["timings"] = {k: round(v, 3) for k, v in timings.items()}
    return row


def read_rows(path: Path) -> list[dict]:
    """The rows of a results file (a truncated last line, from a kill, is ignored)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def append_row(path: Path, row: dict) -> None:
    """Append one JSON line with a single ``write`` on an ``O_APPEND`` descriptor + fsync, so
    concurrent surveys (``shard``) may share a file and a kill leaves whole rows."""
    data = (json.dumps(jsonable(row), sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_size:  # a killed writer may have left a partial last line
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _child(conn, entry, out_dir, points, seed, devices) -> None:
    try:
        conn.send(("started", None))
        conn.send(("row", survey_one(entry, out_dir, points, seed, devices)))
    finally:
        conn.close()


def run(entries: Sequence[dict], out_dir: str | os.PathLike, points: int = 10_000, *,
        seed: int = 0, workers: int = 1, devices: int | None = 1,
        timeout: float | None = None, retry_errors: bool = False,
        progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Survey ``entries``; rows go to ``out_dir/results.jsonl``.  Returns counts.

    ``workers`` processes run at once (``0``: in this process, no isolation and no
    ``timeout``); each manifold uses ``devices`` devices (:mod:`cygen.scale`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    done = {int(r["id"]) for r in read_rows(results)
            if r.get("status") in DONE or (not retry_errors and "id" in r)}
    todo = [e for e in entries if int(e["id"]) not in done]
    say = progress or (lambda row: None)
    counts = {"total": len(entries), "already_done": len(entries) - len(todo), "ok": 0,
              "error": 0, "skipped": 0, "timeout": 0}
    t0 = time.perf_counter()

    def record(row: dict) -> None:
        append_row(results, row)
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        say(row)

    if workers <= 0:
        for entry in todo:
            record(survey_one(entry, str(out), points, seed, devices))
    else:
        _parallel(todo, str(out), points, seed, devices, workers, timeout, record)
    counts["wall_s"] = round(time.perf_counter() - t0, 3)
    return counts


def _parallel(todo, out, points, seed, devices, workers, timeout, record) -> None:
    """At most ``workers`` spawned processes at once, one per manifold, killed ``timeout``
    seconds after they have started up (imported JAX)."""
    ctx = mp.get_context("spawn")  # never fork a process that has initialised JAX
    pending = list(reversed(todo))
    running: dict = {}  # conn -> (process, entry, start, started up)
    try:
        while pending or running:
            while pending and len(running) < workers:
                entry = pending.pop()
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(child, entry, out, points, seed, devices),
                                   daemon=True)
                proc.start()
                child.close()
                running[parent] = (proc, entry, time.perf_counter(), False)
            ready = mp_wait(list(running), timeout=1.0)
            for conn in ready:
                proc, entry, start, _ = running.pop(conn)
                try:
                    tag, row = conn.recv()
                    if tag == "started":
                        running[conn] = (proc, entry, time.perf_counter(), True)
                        continue
                except EOFError:  # the worker died without a row (a crash, out of memory)
                    proc.join()
                    row = _base_row(entry) | {
                        "status": "error", "error": f"worker exited with code {proc.exitcode}",
                        "timings": {"total_s": round(time.perf_counter() - start, 3)}}
                proc.join()
                conn.close()
                record(row)
            if timeout is not None:
                for conn, (proc, entry, start, started) in list(running.items()):
                    if time.perf_counter() - start > timeout + (0 if started else STARTUP_S):
                        proc.kill()
                        proc.join()
                        conn.close()
                        del running[conn]
                        record(_base_row(entry) | {
                            "status": "timeout", "error": f"no result after {timeout:g} s",
                            "timings": {"total_s": round(time.perf_counter() - start, 3)}})
    finally:
        for proc, *_ in running.values():  # interrupted: stop the workers we started
            proc.kill()
            proc.join()


__all__ = ["append_row", "load_list", "read_rows", "run", "select", "source", "survey_one"]
