"""``cygen survey``: CICY sources, rows, resume, workers, timeouts (cygen.survey)."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from cygen import compile_source
from cygen.evaluate import survey

LIST = SHARED / "data" / "cicy3.json"
KEYS = {"id", "status", "sigma_fs", "chi_mc", "chi_err", "chi_topological", "timings",
        "euler_list", "n"}


@pytest.fixture(scope="module")
def entries():
    if not LIST.exists():  # the reference data lives next to the checkout (../shared)
        pytest.skip(f"CICY list not available at {LIST}")
    return survey.load_list(LIST)


def products(entries, k):
    return [e for e in entries if e["product"]][:k]


@pytest.mark.parametrize("cicy_id", [7890, 7884, 536])
def test_generated_source_has_the_lists_topology(entries, cicy_id):
    entry = survey.select(entries, [cicy_id])[0]
    ir = compile_source(survey.source(entry)).ir
    assert [list(r) for r in ir.configuration] == entry["matrix"]
    assert [f.dim for f in ir.factors] == entry["ambient"]
    assert ir.topology.euler == entry["euler"]


def test_select_ids_shard_and_limit(entries):
    assert [e["id"] for e in survey.select(entries, [7890, 536])] == [7890, 536]
    assert [e["id"] for e in survey.select(entries, shard=(1, 3), limit=3)] == [2, 5, 8]
    with pytest.raises(KeyError):
        survey.select(entries, [99999])


def test_rows_resume_and_errors_in_process(entries, tmp_path, monkeypatch):
    """workers=0: rows appended once per id; a second run does nothing new; errors are rows."""
    calls = []

    def fake(entry, out_dir, points, seed, devices):
        calls.append(entry["id"])
        return survey._base_row(entry) | {"status": "ok", "sigma_fs": 0.4, "chi_mc": -200.0,
                                          "chi_err": 1.0, "chi_topological": entry["euler"],
                                          "n": points, "timings": {"total_s": 0.0}}

    monkeypatch.setattr(survey, "survey_one", fake)
    chosen = survey.select(entries, [7890, 7884]) + products(entries, 1)
    counts = survey.run(chosen, tmp_path, points=10, workers=0)
    assert counts["ok"] == 3 and counts["already_done"] == 0
    again = survey.run(chosen, tmp_path, points=10, workers=0)
    assert again["already_done"] == 3 and again["ok"] == 0 and len(calls) == 3
    rows = survey.read_rows(tmp_path / survey.RESULTS)
    assert [r["id"] for r in rows] == [7890, 7884, chosen[2]["id"]]
    assert all(KEYS <= set(r) for r in rows)
    # a truncated last line (a killed writer) is ignored, and the next row starts cleanly
    with open(tmp_path / survey.RESULTS, "a") as fh:
        fh.write('{"id": 1, "sta')
    survey.append_row(tmp_path / survey.RESULTS, {"id": 2, "status": "ok"})
    assert [r["id"] for r in survey.read_rows(tmp_path / survey.RESULTS)][-1] == 2


def test_a_failure_is_a_row(tmp_path):
    entry = {"id": -1, "ambient": [1] * 17, "matrix": [[1]] * 17, "euler": 0}
    row = survey.survey_one(entry, str(tmp_path), points=10)
    assert row["status"] == "error" and "17 factors" in row["error"]
    assert "total_s" in row["timings"]


def test_workers_skip_products_and_time_out(entries, tmp_path):
    """Spawned workers: products become 'skipped' rows; a slow manifold a 'timeout' row."""
    slow = survey.select(entries, [1])  # 7 factors, 21312 charts: minutes to compile
    chosen = products(entries, 2) + slow
    counts = survey.run(chosen, tmp_path, points=100, workers=2, timeout=3)
    assert counts["skipped"] == 2 and counts["timeout"] == 1
    rows = {r["id"]: r for r in survey.read_rows(tmp_path / survey.RESULTS)}
    assert rows[1]["status"] == "timeout" and "3 s" in rows[1]["error"]
    assert all("product" in rows[e["id"]]["error"] for e in chosen[:2])
    again = survey.run(chosen, tmp_path, points=100, workers=2, timeout=3)
    assert again["already_done"] == 3


def test_cli_survey_json(entries, tmp_path):
    from cygen.cli import app

    ids = ",".join(str(e["id"]) for e in products(entries, 2))
    result = CliRunner().invoke(app, ["survey", str(LIST), "--ids", ids, "--points", "10",
                                      "--workers", "0", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout[result.stdout.index("{"):])
    assert counts["skipped"] == 2 and counts["total"] == 2
    bad = CliRunner().invoke(app, ["survey", str(LIST), "--ids", "99999", "--out",
                                   str(tmp_path)])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_real_survey_of_the_quintic_resumes(entries, tmp_path):
    """Compile, sample and integrate #7890 for real (plus a product); resume is a no-op."""
    chosen = survey.select(entries, [7890]) + products(entries, 1)
    counts = survey.run(chosen, tmp_path, points=400, workers=1)
    assert counts["ok"] == 1 and counts["skipped"] == 1
    rows = {r["id"]: r for r in survey.read_rows(tmp_path / survey.RESULTS)}
    row = rows[7890]
    assert KEYS <= set(row) and row["status"] == "ok"
    assert row["chi_topological"] == row["euler_list"] == -200
    # 400 points: the Euler density is heavy-tailed, so only sanity here (bench_euler: accuracy)
    assert row["chi_mc"] < 0 and row["chi_err"] > 0 and row["n"] == 400
    assert 0.2 < row["sigma_fs"] < 0.7  # generic quintic, 400 points
    assert {"compile_s", "sample_s", "euler_s", "total_s"} <= set(row["timings"])
    assert (tmp_path / "manifolds" / "cicy_7890.cy").exists()
    again = survey.run(chosen, tmp_path, points=400, workers=1)
    assert again["already_done"] == 2 and len(survey.read_rows(tmp_path / survey.RESULTS)) == 2
