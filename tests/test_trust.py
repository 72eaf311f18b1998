"""Nothing wrong passes silently: provenance, fresh points, clean errors for bad files,
strict configs, honest exit codes, singular members flagged."""

from __future__ import annotations

import hashlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cygen.cli import app
from cygen.core.errors import CygenError
from cygen.core.seeds import PURPOSES, substream
from cygen.evaluate.runs import evaluate_run
from cygen.learn.checkpoint import read_checkpoint, save_checkpoint
from cygen.learn.config import resolve_config
from cygen.learn.trainer import train
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

TORUS = ROOT / "manifolds" / "torus.cy"
K3 = ROOT / "manifolds" / "k3_quartic.cy"
DWORK = ROOT / "manifolds" / "dwork_quintic.cy"
TINY = {"batch_size": 32, "model": {"widths": [8]},
        "eval": {"kahler_points": 8, "ricci_points": 0}}
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _clean_failure(result, code: int = 2) -> str:
    """The command failed as a command should: exit ``code``, a message, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


def _snapshot(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def torus_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("trust") / "run"
    train(TORUS, run, points=400, epochs=1, config=TINY)
    return run


# ----------------------------------------------------------------------------- provenance


def test_data_of_another_manifold_is_refused(tmp_path):
    points = tmp_path / "torus.npz"
    assert _run("sample", TORUS, "-n", "300", "-o", points).exit_code == 0
    deformed = tmp_path / "deformed.cy"
    deformed.write_text("name torus\nambient P2[z]\nkahler 1\n"
                        "eq z0^3 + z1^3 + z2^3 + 1/2*z0*z1*z2\n")
    out = _clean_failure(_run("train", deformed, "--out", tmp_path / "run", "--data", points,
                              "--epochs", "1"))
    assert "torus" in out and "refusing to mix two manifolds" in out
    assert not (tmp_path / "run").exists()


def test_sample_never_overwrites_a_point_set_silently(tmp_path):
    points = tmp_path / "points.npz"
    assert _run("sample", TORUS, "-n", "300", "-o", points).exit_code == 0
    before = points.read_bytes()
    out = _clean_failure(_run("sample", TORUS, "-n", "300", "--seed", "3", "-o", points))
    assert "--overwrite" in out and points.read_bytes() == before
    assert _run("sample", TORUS, "-n", "300", "--seed", "3", "-o", points,
                "--overwrite").exit_code == 0
    assert points.read_bytes() != before


def test_eval_on_data_of_another_manifold_is_refused(torus_run, tmp_path):
    other = sample(K3, 100, seed=0)
    other.save(tmp_path / "k3.npz")
    with pytest.raises(CygenError, match="k3_quartic.*torus|refusing to mix"):
        evaluate_run(torus_run, data=tmp_path / "k3.npz")
    out = _clean_failure(_run("eval", torus_run, "--data", tmp_path / "k3.npz"))
    assert "k3_quartic" in out and "torus" in out


def test_resume_with_another_manifold_is_refused(torus_run):
    before = _snapshot(torus_run)
    out = _clean_failure(_run("train", K3, "--out", torus_run, "--resume", "--epochs", "2"))
    assert "refusing to mix" in out
    assert _snapshot(torus_run) == before


# ----------------------------------------------------------------------------- fresh points


def test_sample_train_eval_never_reuses_training_points(tmp_path):
    """sample --seed 1 -> train --data --seed 1 -> eval (default seed): the evaluation points
    are new; evaluating on the training file itself is refused."""
    points = tmp_path / "points.npz"
    assert _run("sample", TORUS, "-n", "500", "--seed", "1", "-o", points).exit_code == 0
    run = tmp_path / "run"
    result = _run("train", TORUS, "--out", run, "--data", points, "--seed", "1", "--epochs", "1",
                  "--config", _config(tmp_path))
    assert result.exit_code == 0, result.output
    evaluation = evaluate_run(run, points=300)
    assert evaluation["overlap_checked"] is True and evaluation["points"] == 300
    fresh = sample(TORUS, 300, seed=1, purpose="eval")
    train_points = Dataset.load(points).points
    assert not ({r.tobytes() for r in fresh.points} & {r.tobytes() for r in train_points})
    with pytest.raises(CygenError, match="are training points of the run"):
        evaluate_run(run, data=points)  # the training file itself
    out = _clean_failure(_run("eval", run, "--data", points))
    assert "are training points of the run" in out


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


@given(st.integers(0, 2**31), st.integers(0, 2**31), st.sampled_from(PURPOSES),
       st.sampled_from(PURPOSES))
@settings(max_examples=200, deadline=None)
def test_random_streams_differ_between_purposes_and_seeds(s1, s2, p1, p2):
    assert (substream(s1, p1) == substream(s2, p2)) == ((s1, p1) == (s2, p2))
    assert substream(s1, p1, 0, 1) != substream(s1, p1, 1, 0)  # chunk 0 type 1, chunk 1 type 0


# ----------------------------------------------------------------------------- strict config


@pytest.mark.parametrize(("override", "expected"), [
    ({"optimizer": {"learning_rate": 1e-3}}, "optimizer.learning_rate: unknown key (did you "
                                             "mean 'lr'?)"),
    ({"optimizer": {"shedule": "cosine"}}, "did you mean 'schedule'?"),
    ({"lbfgs": {"step": 5}}, "lbfgs.step: unknown key (did you mean 'steps'?)"),
    ({"model": {"widht": [8]}}, "model.widht: unknown key (did you mean 'widths'?)"),
    ({"eval": {"kahler_point": 5}}, "did you mean 'kahler_points'?"),
    ({"lr": 0.1}, "did you mean optimizer.lr?"),
    ({"optimizer": {"lr": -1.0}}, "optimizer.lr: input should be greater than 0"),
    ({"batch_size": "64"}, "batch_size: input should be a valid integer"),
    ({"val_fraction": 1.5}, "val_fraction: input should be less than 1"),
    ({"model": {"activation": "swish"}}, "model.activation"),
    ({"loss": {"kahler": -1}}, "loss.kahler: input should be greater than or equal to 0"),
    ({"epochs": 3}, "epochs: set by the trainer"),
])
def test_configs_are_checked_at_every_depth(override, expected):
    with pytest.raises(CygenError) as info:
        resolve_config("phi", override, source="run.toml")
    assert expected in info.value.format()
    assert info.value.format().startswith("error: run.toml: ")


def test_bad_config_and_oversized_batch_fail_before_any_work(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[optimizer]\nlearning_rate = 0.01\n")
    out = _clean_failure(_run("train", TORUS, "--out", tmp_path / "r1", "--config", bad))
    assert "did you mean 'lr'" in out and not (tmp_path / "r1").exists()
    broken = tmp_path / "broken.toml"
    broken.write_text("[optimizer\nlr = 1\n")
    out = _clean_failure(_run("train", TORUS, "--out", tmp_path / "r2", "--config", broken))
    assert "not valid TOML" in out and "line 1" in out
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"batch_size": 500}))
    out = _clean_failure(_run("train", TORUS, "--out", tmp_path / "r4", "--points", "300",
                              "--config", big))
    assert "batch_size 500 exceeds the 270 training points" in out
    assert not (tmp_path / "r4").exists()


# ----------------------------------------------------------------------------- run directories


def test_resume_needs_a_run_and_new_runs_need_a_free_directory(torus_run, tmp_path):
    out = _clean_failure(_run("train", TORUS, "--out", tmp_path / "none", "--resume"))
    assert "no run to resume" in out and not (tmp_path / "none").exists()
    before = _snapshot(torus_run)
    out = _clean_failure(_run("train", TORUS, "--out", torus_run, "--epochs", "1"))
    assert "--overwrite" in out and _snapshot(torus_run) == before
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    out = _clean_failure(_run("train", TORUS, "--out", other, "--overwrite"))
    assert "not a run directory" in out and (other / "thesis.tex").read_text() == "precious"


def test_overwrite_replaces_a_run_entirely(tmp_path):
    run = tmp_path / "run"
    train(TORUS, run, points=400, epochs=2, config=TINY)
    assert len((run / "log.jsonl").read_text().splitlines()) == 2
    result = _run("train", TORUS, "--out", run, "--overwrite", "--epochs", "1", "--points",
                  "400", "--config", _config(tmp_path))
    assert result.exit_code == 0, result.output
    assert len((run / "log.jsonl").read_text().splitlines()) == 1


def test_donaldson_out_is_not_overwritten_silently(tmp_path):
    args = ["donaldson", K3, "--k", "1", "--points", "2000", "--eval-points", "500",
            "--ricci-points", "0", "--out", tmp_path]
    assert _run(*args).exit_code == 0
    (tmp_path / "k1" / "log.jsonl").write_text("stale\n")
    before = _snapshot(tmp_path / "k1")
    out = _clean_failure(_run(*args))
    assert "--overwrite" in out and _snapshot(tmp_path / "k1") == before
    assert _run(*args, "--overwrite").exit_code == 0
    assert not (tmp_path / "k1" / "log.jsonl").exists()  # the old log went with the old run


# ----------------------------------------------------------------------------- exit codes


def test_a_non_finite_run_exits_non_zero(tmp_path):
    cfg = tmp_path / "explode.json"
    cfg.write_text(json.dumps({**TINY, "optimizer": {"lr": 1e30}, "model": {"widths": [8],
                                                                          "init_scale": 1e3}}))
    result = _run("train", K3, "--out", tmp_path / "run", "--points", "400", "--epochs", "3",
                  "--config", cfg)
    out = _clean_failure(result, code=1)
    assert "NaN" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["status"] == "non_finite"


def test_euler_fails_on_a_broken_metric_and_counts_what_it_dropped(torus_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(torus_run, broken)
    arrays, meta = read_checkpoint(broken / "checkpoint.npz")
    params = [np.full_like(arrays[k], np.nan) for k in sorted(
        (k for k in arrays if k.startswith("p")), key=lambda k: int(k[1:]))]
    save_checkpoint(broken / "checkpoint.npz", params, [], meta)
    result = _run("euler", broken, "-n", "200")
    out = _clean_failure(result, code=1)
    assert "200 of 200 points dropped" in out and "the metric is broken" in out


def test_info_flags_a_singular_member():
    result = _run("info", DWORK, "--param", "psi=1", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["singular"] is True
    z = np.array([complex(re, im) for re, im in data["singular_point"]])
    assert np.allclose(z**5, z[0] ** 5, atol=1e-9)  # psi = 1: the node z_i^5 all equal
    assert np.isclose(np.sum(z**5) - 5 * np.prod(z), 0, atol=1e-9)
    smooth = json.loads(_run("info", DWORK, "--json").stdout)
    assert smooth["singular"] is False and smooth["singular_point"] is None
    assert smooth["nearest_smooth_member"] is None
    assert "SINGULAR" in _run("info", DWORK, "--param", "psi=1").stdout
    # the conifold psi = 1 is isolated: the nearest smooth member is one step away
    assert data["nearest_smooth_member"]["param"] == "psi"
    assert data["nearest_smooth_member"]["value"] == "101/100"


def test_info_names_the_nearest_smooth_member(tmp_path):
    """The Cefalú quartics at lambda = 3/4 and 1 (the leaderboard's hard K3s) are singular;
    info names the nearest smooth member, which is smooth by the same search, and the
    sampler's refusal names it too."""
    src = tmp_path / "cefalu.cy"
    src.write_text("name cefalu\nambient P3\nparam lam = 3/4\n"
                   "eq z0^4 + z1^4 + z2^4 + z3^4 - (lam/3)*(z0^2 + z1^2 + z2^2 + z3^2)^2\n")
    for lam, nearest in (("3/4", "19/25"), ("1", "101/100")):
        data = json.loads(_run("info", src, "--param", f"lam={lam}", "--json").stdout)
        assert data["singular"] is True
        z = np.array([complex(re, im) for re, im in data["singular_point"]])
        assert np.allclose(np.abs(np.sum(z**4) - float(Fraction(lam)) / 3 * np.sum(z**2) ** 2), 0,
                           atol=1e-9)
        assert data["nearest_smooth_member"] == {
            "param": "lam", "value": nearest, "value_float": [float(Fraction(nearest)), 0.0]}
        moved = json.loads(_run("info", src, "--param", f"lam={nearest}", "--json").stdout)
        assert moved["singular"] is False
    result = _run("sample", src, "-n", "10", "--output", str(tmp_path / "x.npz"))
    assert result.exit_code == 2 and "--param lam=19/25" in result.output
    assert not (tmp_path / "x.npz").exists()


# ----------------------------------------------------------------------------- bad files

# what each command reads when it is there, and what must be there
READS = {"eval": ("config.json", "module", "checkpoint.npz", "metrics.json", "data.npz"),
         "resume": ("config.json", "module", "checkpoint.npz", "log.jsonl", "data.npz")}
REQUIRED = {"eval": ("config.json", "module", "checkpoint.npz"), "resume": READS["resume"]}


def _one_of(name: str, files: tuple[str, ...]) -> bool:
    return any(name == f or (f == "module" and name.startswith("module_")) for f in files)


def _corrupt(path: Path, kind: str, where: float, junk: bytes) -> None:
    data = path.read_bytes()
    if kind == "delete":
        path.unlink()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncate":
        path.write_bytes(data[: int(where * len(data))])
    else:  # overwrite a stretch in the middle with junk
        at = int(where * max(len(data) - len(junk), 0))
        path.write_bytes(data[:at] + junk + data[at + len(junk):])


@pytest.fixture(scope="module")
def run_files(torus_run) -> list[str]:
    return sorted(p.name for p in torus_run.iterdir())


@given(data=st.data())
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
def test_every_broken_file_of_a_run_is_a_clean_error(torus_run, run_files, tmp_path, data):
    name = data.draw(st.sampled_from(run_files))
    kind = data.draw(st.sampled_from(["delete", "empty", "truncate", "junk"]))
    where = data.draw(st.floats(0.05, 0.95))
    junk = data.draw(st.binary(min_size=8, max_size=64))
    command = data.draw(st.sampled_from(["eval", "resume"]))
    run = tmp_path / f"run_{abs(hash((name, kind, where, junk, command)))}"
    shutil.rmtree(run, ignore_errors=True)  # hypothesis replays a failing example
    shutil.copytree(torus_run, run)
    _corrupt(run / name, kind, where, junk)
    before = _snapshot(run)
    if command == "eval":
        result = _run("eval", run, "--points", "40")
    else:
        result = _run("train", TORUS, "--out", run, "--resume", "--epochs", "2")
    must_fail = (kind == "delete" and _one_of(name, REQUIRED[command])) or (
        kind == "empty" and _one_of(name, READS[command]))
    if result.exit_code != 0 or must_fail:
        out = _clean_failure(result)
        assert str(run) in out or name in out
        assert _snapshot(run) == before  # a refused command leaves the files alone
    shutil.rmtree(run)


def test_damage_inside_a_memory_mapped_point_set_is_caught(torus_run, tmp_path):
    """The trainer maps a run's data.npz instead of reading it, which skips zipfile's CRC
    check: the CRC of every member is verified anyway, so damage to an array the resume
    does not even read (omega_sq) is an error, not a silent resume."""
    run = tmp_path / "run"
    shutil.copytree(torus_run, run)
    path = run / "data.npz"
    Dataset.load(path, mmap=True)  # intact: fine
    import zipfile

    info = zipfile.ZipFile(path).getinfo("omega_sq.npy")
    data = bytearray(path.read_bytes())
    data[info.header_offset + info.compress_size // 2 + 100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CygenError, match="CRC"):
        Dataset.load(path, mmap=True)
    before = _snapshot(run)
    out = _clean_failure(_run("train", TORUS, "--out", run, "--resume", "--epochs", "2"))
    assert "data.npz" in out and _snapshot(run) == before


def test_an_edited_generated_module_is_refused(tmp_path):
    """A generated module's first line states the SHA-256 of its body: one changed digit
    (a coefficient, say) is refused before the module runs, with a clean CLI error."""
    from cygen.compiler.loader import load_file

    code = (ROOT / "tests" / "goldens" / "torus.py").read_text()
    path = tmp_path / "torus.py"
    path.write_text(code)
    assert load_file(path).SPEC["name"] == "torus"
    edited = code.replace("'euler': 0", "'euler': 2", 1)
    assert edited != code
    path.write_text(edited)
    with pytest.raises(CygenError, match="damaged or was edited"):
        load_file(path)
    out = _clean_failure(_run("sample", path, "-n", "10", "-o", tmp_path / "p.npz"))
    assert "recompile" in out and not (tmp_path / "p.npz").exists()
