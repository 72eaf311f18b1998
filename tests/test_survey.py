"""``cygen survey``: the shipped CICY list, sources, rows, resume, workers, timeouts."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import SHARED
from typer.testing import CliRunner

from cygen import compile_source
from cygen.evaluate import survey

KEYS = {"id", "status", "sigma_fs", "chi_mc", "chi_err", "chi_topological", "timings",
        "euler_list", "n"}
# sha256 of the shipped list's entries as canonical JSON (sorted keys, no spaces): the
# entries of shared/data/cicy3.json (sha256 a3c7b4c9...), see cygen/data/README.md
ENTRIES_SHA256 = "6ce222d9fbb259adefd7d93085bd6de2ecac0c78c1015156f670552fd7b56d56"


@pytest.fixture(scope="module")
def entries():
    return survey.load_list()  # shipped with cygen: no test depends on ../shared


def test_the_shipped_list_is_the_reference_list(entries):
    assert len(entries) == 7890 and sum(e["product"] for e in entries) == 22
    assert {e["id"] for e in entries} == set(range(1, 7891))
    canonical = json.dumps(entries, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == ENTRIES_SHA256
    reference = SHARED / "data" / "cicy3.json"
    if reference.exists():  # in a development checkout, also compare with the source copy
        assert survey.load_list(reference) == entries


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


def test_select_random_is_fixed_by_the_seed(entries):
    a = [e["id"] for e in survey.select(entries, random=300, seed=0)]
    assert len(set(a)) == 300 and a == sorted(a)
    assert a == [e["id"] for e in survey.select(entries, random=300, seed=0)]
    assert a != [e["id"] for e in survey.select(entries, random=300, seed=1)]


@pytest.mark.slow
def test_rows_resume_and_errors_in_process(entries, tmp_path):
    """workers=0, real work on the quintic (#7890) and a product: a row each with sigma_FS
    and chi by integration (agreeing with the list's chi within 4 standard errors); a second
    run does nothing new."""
    chosen = survey.select(entries, [7890]) + products(entries, 1)
    counts = survey.run(chosen, tmp_path, points=1500, workers=0)
    assert counts["ok"] == 1 and counts["skipped"] == 1 and counts["already_done"] == 0
    rows = survey.read_rows(tmp_path / survey.RESULTS)
    assert [r["id"] for r in rows] == [7890, chosen[1]["id"]]
    row = rows[0]
    assert KEYS <= set(row) and row["status"] == "ok" and row["n"] == 1500
    assert row["chi_topological"] == row["euler_list"] == -200
    assert abs(row["chi_mc"] - (-200)) <= 4 * row["chi_err"] and row["chi_err"] < 60
    assert 0.25 < row["sigma_fs"] < 0.6  # a generic quintic (FS, 1500 points)
    again = survey.run(chosen, tmp_path, points=1500, workers=0)
    assert again["already_done"] == 2 and again["ok"] == 0
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
    result = CliRunner().invoke(app, ["survey", "--ids", ids, "--points", "10",
                                      "--workers", "0", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout[result.stdout.index("{"):])
    assert counts["skipped"] == 2 and counts["total"] == 2
    bad = CliRunner().invoke(app, ["survey", "--ids", "99999", "--out", str(tmp_path)])
    assert bad.exit_code == 2
    junk = tmp_path / "junk.json"
    junk.write_text('{"entries": [1, 2]}')
    bad = CliRunner().invoke(app, ["survey", str(junk), "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "not a CICY list" in bad.output


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
    assert abs(row["chi_mc"] - (-200)) <= 4 * row["chi_err"] and row["n"] == 400
    assert 0.2 < row["sigma_fs"] < 0.7  # generic quintic, 400 points
    assert {"compile_s", "sample_s", "euler_s", "total_s"} <= set(row["timings"])
    assert (tmp_path / "manifolds" / "cicy_7890.cy").exists()
    again = survey.run(chosen, tmp_path, points=400, workers=1)
    assert again["already_done"] == 2 and len(survey.read_rows(tmp_path / survey.RESULTS)) == 2
