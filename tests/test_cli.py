"""The command line: compile, info, --emit, --param, --help."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from cygen.cli import app

runner = CliRunner()
TY = str(ROOT / "manifolds" / "tian_yau.cy")


def test_compile_writes_importable_module(tmp_path):
    target = tmp_path / "ty.py"
    result = runner.invoke(app, ["compile", TY, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "288 charts" in result.output
    from cygen.compiler.loader import load

    module = load(target)
    assert module.SPEC["euler"] == -18
    assert len(module.SPEC["charts"]) == 288
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


@pytest.mark.parametrize(
    ("stage", "needle"),
    [("ast", "AmbientStmt()"), ("ir", "kernel fs_ambient"), ("code", "def transition(")],
)
def test_emit(stage, needle):
    result = runner.invoke(app, ["compile", TY, "--emit", stage])
    assert result.exit_code == 0, result.output
    assert needle in result.output


def test_info_json_keys():
    result = runner.invoke(app, ["info", TY, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in (
        "name",
        "ambient",
        "dimension",
        "configuration",
        "n_charts",
        "euler",
        "intersection_numbers",
        "c2_dot_J",
    ):
        assert key in data
    assert data["n_charts"] == 288
    assert data["euler"] == -18
    assert data["c2_dot_J"] == [36, 36]
    assert data["intersection_numbers"] == {"0,0,0": 0, "0,0,1": 9, "0,1,1": 9, "1,1,1": 0}


def test_info_table():
    result = runner.invoke(app, ["info", TY])
    assert result.exit_code == 0
    assert "P3[x0, x1, x2, x3]" in result.output
    assert "-18" in result.output


def test_param_override_changes_module():
    dwork = str(ROOT / "manifolds" / "dwork_quintic.cy")
    base = runner.invoke(app, ["compile", dwork, "--emit", "code"]).output
    other = runner.invoke(app, ["compile", dwork, "--emit", "code", "--param", "psi=0.1+0.2i"])
    assert other.exit_code == 0
    assert base != other.output
    assert "'psi': (0.1+0.2j)" in other.output


@pytest.mark.parametrize("command", ["compile", "info"])
def test_help_has_examples(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.output
    assert "cygen " + command in result.output


@pytest.mark.parametrize(("name", "chi"), [("torus", 0), ("k3_quartic", 24)])
def test_euler_cli_integrates_chi(name, chi):
    """The torus alone would pass with a zero Euler density: K3 (chi = 24) would not."""
    result = runner.invoke(app, ["euler", str(ROOT / f"manifolds/{name}.cy"), "-n", "3000",
                                 "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["chi_topological"] == chi
    assert abs(data["chi_mc"] - chi) <= 3 * data["chi_err"] + 1e-9
    assert data["chi_err"] < 3 and data["nonfinite"] == 0


def test_euler_of_a_trained_run_integrates_chi(tmp_path):
    """cygen euler RUN: the learned metric's chi by integration against the topological one
    (K3: chi = 24), through the phi model's own jets."""
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", str(ROOT / "manifolds/k3_quartic.cy"), "--out",
                                 str(run), "--points", "1500", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["euler", str(run), "-n", "6000", "--json"])
    assert result.exit_code == 0, result.output
    chi = json.loads(result.output)
    assert chi["route"] == "jets:phi" and chi["metric"].startswith("run:")
    assert chi["chi_topological"] == 24 and chi["nonfinite"] == 0
    assert abs(chi["chi_mc"] - 24) <= 4 * chi["chi_err"] and chi["chi_err"] < 2, chi


def test_euler_cli_bad_input(tmp_path):
    result = runner.invoke(app, ["euler", str(tmp_path), "-n", "10"])
    assert result.exit_code == 2
    assert "not a run directory" in result.output


@pytest.mark.slow
def test_train_eval_euler_cli_round_trip(tmp_path):
    run = tmp_path / "run"
    quintic = str(ROOT / "manifolds/fermat_quintic.cy")
    result = runner.invoke(app, ["train", quintic, "--out", str(run), "--points", "3000",
                                 "--epochs", "2", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["sigma"] < metrics["sigma_fs"]
    assert (run / "metrics.json").exists()
    result = runner.invoke(app, ["eval", str(run), "--points", "2000", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["sigma"] < metrics["sigma_fs"]
    result = runner.invoke(app, ["euler", str(run), "-n", "20000", "--json"])
    assert result.exit_code == 0, result.output
    chi = json.loads(result.output)
    assert chi["chi_topological"] == -200 and chi["route"] == "jets:phi"
    assert abs(chi["chi_mc"] + 200) <= max(4 * chi["chi_err"], 0.02 * 200), chi
