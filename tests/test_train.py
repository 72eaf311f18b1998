"""The trainer: a short quintic run lowers sigma; resume is exact; NaN guard; no retrace."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT, compiled

from cygen.core.errors import CygenError
from cygen.evaluate.runs import evaluate_run as evaluate
from cygen.learn import losses as L
from cygen.learn.checkpoint import load_checkpoint
from cygen.learn.data import split as _split
from cygen.learn.evaluation import cached_evaluator as _cached_evaluator
from cygen.learn.runs import load_run
from cygen.learn.step import TRACES
from cygen.learn.trainer import train
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample

QUINTIC = ROOT / "manifolds" / "fermat_quintic.cy"
# one configuration for every run here, so the compiled step is shared (and cached)
CONFIG = {
    "model": {"widths": [16, 16], "activation": "gelu"},
    "batch_size": 64,
    "steps_per_call": 10,
    "optimizer": {"lr": 3e-3, "horizon_epochs": 4},
    "eval": {"kahler_points": 0, "ricci_points": 0},
}


@pytest.fixture(scope="module")
def module():
    return compiled(QUINTIC)[1]


@pytest.fixture(scope="module")
def data(module, tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "quintic.npz"
    sample(module, 6000, seed=3).save(path)  # 6000: test_sampling's compiled solver
    return path


@pytest.fixture(scope="module")
def trained(module, data, tmp_path_factory):
    """A 4-epoch run; TRACES counted around it."""
    run = tmp_path_factory.mktemp("runs") / "quintic"
    before = dict(TRACES)
    events = []
    metrics = train(module, run, data=data, epochs=4, config=CONFIG, progress=events.append)
    traced = {k: v - before.get(k, 0) for k, v in TRACES.items()}
    return run, metrics, traced, events


def test_short_training_lowers_validation_sigma(trained):
    run, metrics, _, events = trained
    assert metrics["status"] == "completed" and metrics["epochs"] == 4
    assert abs(metrics["sigma_fs"] - 0.373) < 0.05
    assert metrics["sigma"] < 0.8 * metrics["sigma_fs"]
    assert metrics["transition"] < 1e-10  # phi is globally defined
    assert abs(metrics["volume_mc"] / metrics["volume_exact"] - 1) < 0.05
    saved = json.loads((run / "metrics.json").read_text())
    assert saved["sigma"] == metrics["sigma"] and saved["ricci"] is None
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in log] == [1, 2, 3, 4]
    assert all({"loss", "sigma"} <= set(x["train"]) and "sigma" in x["val"] for x in log)
    assert log[-1]["val"]["sigma"] == metrics["sigma"]
    assert all(a["wall_s"] < b["wall_s"] for a, b in zip(log, log[1:], strict=False))
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["name"] == "phi" and config["epochs"] == 4
    assert {e["event"] for e in events} >= {"start", "step", "epoch", "stop"}


def test_the_step_is_compiled_once(trained, module, data, tmp_path):
    _, _, traced, _ = trained
    assert traced.get("train_chunk", 0) <= 1 and traced.get("val", 0) <= 1
    before = dict(TRACES)
    train(module, tmp_path / "again", data=data, epochs=2, config=CONFIG)
    assert TRACES["train_chunk"] == before["train_chunk"]
    assert TRACES["val"] == before.get("val", 0)


def test_load_run_metric_is_the_trained_model(trained, data):
    run = load_run(trained[0])
    ds = Dataset.load(data)
    z = jnp.asarray(ds.points[:16])
    g = np.asarray(jax.jit(jax.vmap(run.metric))(z))
    np.testing.assert_array_equal(np.asarray(jax.vmap(run.chart)(z)), ds.chart[:16])
    assert np.all(np.linalg.eigvalsh(g) > 0)
    # the trainer's float64 path (precomputed inputs, model.apply) gives the same metric
    pts = L.prepare(run.model, run.geometry, ("kahler", "transition", "volume"),
                    ds.subset(slice(0, 16)))
    stats = _cached_evaluator(run.model, run.geometry, run.config).stats(run.params, pts,
                                                                          ("sigma",))
    eta = np.real(np.linalg.det(g)) / ds.omega_sq[:16]
    np.testing.assert_allclose(stats["eta"], eta, rtol=1e-12)
    fs = np.real(np.linalg.det(np.asarray(pts.inputs[1]))) / ds.omega_sq[:16]
    assert np.max(np.abs(eta / fs - 1)) > 1e-3  # trained away from FS
    assert run.metrics["sigma"] == trained[1]["sigma"]


def _params(run):
    return jax.tree.leaves(load_run(run).params)


def test_resume_continues_exactly(module, data, tmp_path):
    straight = train(module, tmp_path / "straight", data=data, epochs=2, config=CONFIG)
    # stop after the first compiled call of epoch 1, then resume twice
    first = train(module, tmp_path / "resumed", data=data, epochs=2, config=CONFIG,
                  max_minutes=1e-9)
    assert first["status"] == "time_limit" and first["epochs"] == 0
    _, _, meta = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz",
                                 _params(tmp_path / "straight"))
    assert meta["epoch"] == 0 and meta["call"] == 1
    mid = train(module, tmp_path / "resumed", epochs=1, resume=True)
    assert mid["epochs"] == 1 and mid["status"] == "completed"
    final = train(module, tmp_path / "resumed", epochs=2, resume=True)
    assert final["sigma"] == straight["sigma"]
    for a, b in zip(_params(tmp_path / "straight"), _params(tmp_path / "resumed"),
                    strict=True):
        np.testing.assert_array_equal(a, b)
    logs = [[json.loads(x)["val"] for x in (tmp_path / r / "log.jsonl").read_text().split("\n")
             if x] for r in ("straight", "resumed")]
    assert logs[0] == logs[1]


def test_nan_stops_cleanly_with_the_last_good_checkpoint(module, data, tmp_path):
    ds = Dataset.load(data)
    train_idx, _ = _split(len(ds), 0, 0.1)
    weights = ds.weights.copy()
    weights[train_idx[5]] = np.nan
    bad = tmp_path / "bad.npz"
    Dataset(ds.points, weights, ds.omega_sq, ds.chart, ds.metadata).save(bad)
    metrics = train(module, tmp_path / "nan", data=bad, epochs=2, config=CONFIG)
    assert metrics["status"] == "non_finite" and "NaN" in metrics["message"]
    assert metrics["epochs"] == 0 and np.isfinite(metrics["sigma"])
    run = load_run(tmp_path / "nan")
    assert all(np.all(np.isfinite(p)) for p in jax.tree.leaves(run.params))
    assert not (tmp_path / "nan" / "log.jsonl").exists()


def test_evaluate_on_fresh_points_and_refuse_to_overwrite(trained, module, data):
    run_dir, metrics, _, _ = trained
    fresh = run_dir.parent / "fresh.npz"
    sample(module, 6000, seed=9).save(fresh)
    out = evaluate(run_dir, data=fresh)
    assert out["points"] == 6000 and out["data"] == str(fresh)
    assert out["sigma"] < 0.8 * out["sigma_fs"]
    assert abs(out["sigma"] - metrics["sigma"]) < 0.5 * metrics["sigma"]
    with pytest.raises(CygenError, match="already holds a run"):
        train(module, run_dir, data=data, epochs=1, config=CONFIG)


@pytest.mark.slow
def test_lbfgs_fine_tune_lowers_sigma(module, data, tmp_path):
    config = {**CONFIG, "lbfgs": {"steps": 15, "points": 2048, "memory": 10}}
    metrics = train(module, tmp_path / "lbfgs", data=data, epochs=1, config=config)
    log = [json.loads(x) for x in (tmp_path / "lbfgs" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["phase"] == "lbfgs" and log[-1]["val"]["sigma"] == metrics["sigma"]
    assert metrics["sigma"] < log[0]["val"]["sigma"]


@pytest.mark.parametrize("path", sorted((ROOT / "docs" / "configs").glob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_configs_resolve(path):
    """Every config in docs/configs/ is a valid override of the defaults."""
    from cygen.learn.config import loss_powers, read_config, resolve_config

    overrides = read_config(path)
    cfg = resolve_config(overrides.get("model", {}).get("name", "ldl"), overrides)
    assert cfg["loss"] and all(v >= 0 for v in cfg["loss"].values())
    loss_powers(cfg)


def test_the_tian_yau_ldl_record_matches_the_shipped_config():
    """docs/studies/tian_yau_ldl_long.json, the issue's Tian-Yau ``ldl`` run (docs/
    experiments.md §3), records the command that made it.  Its config must be what
    docs/configs/tian_yau_ldl.toml resolves to now (edit one, re-run the other), and every
    recorded run completed all its epochs.  (Its numbers are checked where they are quoted,
    against this file: tests/test_docs.py.)"""
    import re

    from cygen.learn.config import read_config, resolve_config

    record = json.loads((ROOT / "docs" / "studies" / "tian_yau_ldl_long.json").read_text())
    assert "--model ldl" in record["command"]
    assert "--config docs/configs/tian_yau_ldl.toml" in record["command"]
    epochs = int(re.search(r"--epochs (\d+)", record["command"]).group(1))
    seed = re.search(r"--seed (\d+)", record["command"])
    cfg = resolve_config("ldl", read_config(ROOT / "docs" / "configs" / "tian_yau_ldl.toml"))
    cfg["optimizer"]["horizon_epochs"] = epochs  # what train() fills in
    cfg["seed"] = int(seed.group(1)) if seed else 0
    assert record["config"] == {key: cfg[key] for key in record["config"]}
    assert record["metrics"]["status"] == "completed"
    assert len(record["curves"]["sigma"]) == epochs


@pytest.mark.parametrize("text, message", [
    ("loss_power = { sigma = 2 }\n", "loss_power.sigma: unknown key"),
    ("loss_power = { kahler = -1 }\n", "loss_power.kahler: input should be greater than 0"),
    ("bogus = 1\n", "bogus: unknown key"),
    ("loss_power = { kahler = \n", "line 1"),
])
def test_train_cli_rejects_a_bad_config_before_sampling(tmp_path, text, message):
    from typer.testing import CliRunner

    from cygen.cli import app

    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(QUINTIC), "--out", str(run), "--config",
                                      str(bad), "--points", "100", "--epochs", "1"])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert not run.exists()
