"""The generated-module contract: every module states CONTRACT_VERSION, loaders check it."""

from __future__ import annotations

import re
import shutil

import pytest
from conftest import ROOT, compiled
from typer.testing import CliRunner

from cygen.cli import app
from cygen.compiler.loader import ContractError, load, load_file
from cygen.core.version import CONTRACT_VERSION
from cygen.learn.runs import load_run
from cygen.learn.trainer import train

TORUS = ROOT / "manifolds" / "torus.cy"
runner = CliRunner()


def _with_contract(code: str, version: int | None) -> str:
    line = "" if version is None else f"CONTRACT_VERSION = {version}"
    return re.sub(r"^CONTRACT_VERSION = \d+$", line, code, count=1, flags=re.M)


def test_generated_modules_state_the_contract_version():
    result, module = compiled(TORUS)
    assert module.CONTRACT_VERSION == CONTRACT_VERSION
    assert f"contract {CONTRACT_VERSION}" in result.code.splitlines()[3]
    assert re.search(rf"^CONTRACT_VERSION = {CONTRACT_VERSION}$", result.code, re.M)


@pytest.mark.parametrize(("version", "stated"), [
    (CONTRACT_VERSION + 1, f"contract version {CONTRACT_VERSION + 1}"),
    (0, "contract version 0"),
    (None, "no contract version"),
])
def test_another_contract_is_refused_before_the_module_runs(tmp_path, version, stated):
    code = _with_contract(compiled(TORUS)[0].code, version)
    code = code.replace("import jax.numpy as jnp", "raise SystemExit('executed')", 1)
    path = tmp_path / "old_torus.py"
    path.write_text(code)
    with pytest.raises(ContractError) as info:
        load_file(path)
    message = str(info.value)
    assert stated in message and f"reads contract version {CONTRACT_VERSION}" in message
    assert "recompile" in message
    # the same through every entry point: load() and the command line (exit 2, no traceback)
    with pytest.raises(ContractError):
        load(path)
    result = runner.invoke(app, ["sample", str(path), "-n", "10", "-o", str(tmp_path / "p.npz")])
    assert result.exit_code == 2
    assert stated in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.npz").exists()


def test_the_current_contract_loads(tmp_path):
    path = tmp_path / "torus_copy.py"
    path.write_text(compiled(TORUS)[0].code)
    assert load_file(path).CONTRACT_VERSION == CONTRACT_VERSION


def test_a_run_with_a_module_of_another_contract_is_refused(tmp_path):
    run = tmp_path / "run"
    train(TORUS, run, points=600, epochs=1, config={"batch_size": 64, "eval": {
        "kahler_points": 8, "ricci_points": 0}})
    modules = list(run.glob("module_*.py"))
    assert len(modules) == 1
    saved = tmp_path / "saved.py"
    shutil.copy(modules[0], saved)
    modules[0].write_text(_with_contract(saved.read_text(), CONTRACT_VERSION + 7))
    # a fresh name: the unchanged copy may already be imported in this process
    with pytest.raises(ContractError, match=f"contract version {CONTRACT_VERSION + 7}"):
        load_run(run)
    result = runner.invoke(app, ["eval", str(run), "--points", "50"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"contract version {CONTRACT_VERSION + 7}" in result.output
    assert "re-train" in result.output or "recompile" in result.output
