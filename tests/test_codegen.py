"""Generated source: golden file, determinism across runs and hash seeds, ruff-clean."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import MANIFOLDS, ROOT, compiled

GOLDENS = Path(__file__).parent / "goldens"


def test_torus_golden(update_goldens):
    result, _ = compiled(ROOT / "manifolds" / "torus.cy")
    golden = GOLDENS / "torus.py"
    if update_goldens:
        golden.write_text(result.code, encoding="utf-8")
    assert golden.exists(), "run pytest --update-goldens to create the golden file"
    assert result.code == golden.read_text(encoding="utf-8"), (
        "generated torus module changed; inspect the diff and run pytest --update-goldens"
    )


def test_torus_golden_ir(update_goldens):
    from cygen.compiler.ir import describe

    result, _ = compiled(ROOT / "manifolds" / "torus.cy")
    golden = GOLDENS / "torus.ir.txt"
    text = describe(result.ir) + "\n"
    if update_goldens:
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_header_names_source_template_and_hash():
    import hashlib

    result, _ = compiled(ROOT / "manifolds" / "torus.cy")
    head, _, body = result.code.partition("\n")
    assert head.endswith(hashlib.sha256(body.encode()).hexdigest())
    assert "# source: " in body and "module.py.j2" in body
    assert "20" + "26" not in result.code  # no dates or timestamps


def test_same_bytes_from_any_checkout_location(tmp_path):
    """The output (and the golden files) must not depend on where the source file lives."""
    from cygen.compiler.pipeline import compile_file

    copy = tmp_path / "elsewhere" / "torus.cy"
    copy.parent.mkdir()
    shutil.copy(ROOT / "manifolds" / "torus.cy", copy)
    result, _ = compiled(ROOT / "manifolds" / "torus.cy")
    assert compile_file(copy).code == result.code
    assert str(ROOT) not in result.code


@pytest.mark.parametrize("name", ["tian_yau", "dwork_quintic", "bicubic_generic"])
def test_same_bytes_across_hash_seeds(tmp_path, name):
    source = f"manifolds/{name}.cy"
    outputs = []
    for seed in ("0", "12345"):
        target = tmp_path / f"{seed}.py"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        subprocess.run(
            [sys.executable, "-m", "cygen.cli", "compile", source, "-o", str(target)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    from cygen.compiler.pipeline import compile_source

    in_process = compile_source((ROOT / source).read_text(), source).code
    assert outputs[0] == in_process.encode()


def test_generated_modules_pass_ruff(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install .[test])")
    for path in MANIFOLDS:
        result, _ = compiled(path)
        (tmp_path / f"{path.stem}.py").write_text(result.code)
    proc = subprocess.run(
        [
            ruff,
            "check",
            "--no-cache",
            "--isolated",
            "--line-length",
            "100",
            "--select",
            "E,F,W,I,B,UP",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_emit_stages_are_inspectable():
    from cygen.compiler.pipeline import compile_file
    from cygen.compiler.syntax import dump

    result = compile_file(ROOT / "manifolds" / "dwork_quintic.cy")
    assert "ParamStmt(name='psi')" in dump(result.program)
    assert result.ir.params[0][0] == "psi"
    assert "def equations(z):" in result.code


def test_cse_happens_in_ir():
    result, _ = compiled(ROOT / "manifolds" / "tian_yau.cy")
    fs = result.ir.fs_ambient
    assert fs.temps, "the FS kernel shares the norms ||x||^2, ||y||^2 via CSE"
    assert "_c0 = " in result.code


@pytest.mark.parametrize("kahler", [(1, 1), (2, 3)])
def test_closed_form_fubini_study_is_the_hessian_of_the_potential(kahler):
    """The compiler writes g_{m nbar} in closed form; it equals d_m dbar_n of
    K = sum_a (t_a/pi) log ||z^(a)||^2 as sympy differentiates it, expression for expression."""
    import sympy as sp

    from cygen.compiler.analysis.fubini_study import ambient_metric, kahler_potential
    from cygen.compiler.pipeline import compile_source

    source = ("name ty\nambient P3[x] * P3[y]\n"
              f"kahler {kahler[0]}, {kahler[1]}\n"
              "eq x0^3 + x1^3 + x2^3 + x3^3\neq y0^3 + y1^3 + y2^3 + y3^3\n"
              "eq x0*y0 + x1*y1 + x2*y2 + x3*y3\n")
    ir = compile_source(source, "ty.cy").ir
    potential = kahler_potential(ir.factors, ir.conj_coords, ir.kahler)
    hessian = [sp.together(sp.diff(potential, z, zb)) for z in ir.coords
               for zb in ir.conj_coords]
    closed = ambient_metric(ir.factors, ir.coords, ir.conj_coords, ir.kahler)
    assert [sp.simplify(a - b) for a, b in zip(closed, hessian, strict=True)] == [0] * 64
    assert closed == hessian  # identical expressions: the generated bytes do not change


@pytest.mark.parametrize("name", ["tian_yau", "schoen", "bicubic_generic", "p5_33"])
def test_admissible_dependent_sets_are_exactly_the_nonzero_minors(name):
    """The batched mod-P test against sympy: a K-subset is admissible iff the symbolic
    Jacobian minor det(dp/dz_S) is not the zero polynomial; the chart count computed from
    masks is the number of charts enumerated."""
    import itertools

    import sympy as sp

    from cygen.compiler.analysis.patches import chart_count, enumerate_charts
    from cygen.compiler.analysis.volume_form import admissible_dependent_sets, jacobian_matrix
    from cygen.compiler.lower import lower
    from cygen.compiler.parse import parse

    path = ROOT / "manifolds" / f"{name}.cy"
    model = lower(parse(path.read_text(), path.name))
    coords = tuple(c for f in model.factors for c in f.coords)
    jac = jacobian_matrix(model.equations, coords)
    k = len(model.equations)
    exact = tuple(s for s in itertools.combinations(range(len(coords)), k)
                  if sp.expand(jac[:, list(s)].det(method="berkowitz")) != 0)
    found = admissible_dependent_sets(model.equations, coords)
    assert found == exact and found
    assert chart_count(model.factors, found) == len(enumerate_charts(model.factors, found).charts)


def test_a_configuration_past_the_chart_limit_is_a_clean_error(monkeypatch):
    """Chart tables are enumerated in full: past the limit the compiler refuses early, with
    the count, instead of running for hours or exhausting memory."""
    import importlib

    from cygen.compiler.pipeline import compile_source
    from cygen.core.errors import CygenError

    analyse = importlib.import_module("cygen.compiler.analysis.analyse")
    monkeypatch.setattr(analyse, "MAX_CHARTS", 100)
    source = (ROOT / "manifolds" / "tian_yau.cy").read_text()
    with pytest.raises(CygenError, match="288 charts exceed cygen's limit of 100"):
        compile_source(source, "tian_yau.cy")
    monkeypatch.setattr(analyse, "MAX_SUBSETS", 10)
    with pytest.raises(CygenError, match="56 candidate sets of 3 dependent coordinates"):
        compile_source(source, "tian_yau.cy")
