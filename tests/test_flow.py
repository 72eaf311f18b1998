"""The Kähler–Ricci flow trainer (loss.flow, ``cygen train --method flow``): the loss is the
backward Euler residual, it lowers sigma on the torus and the K3 quartic at tiny sizes and
stays stable at a large step, a run resumed inside a flow step ends exactly where an
uninterrupted one does, and the options are checked and documented."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from cygen.cli import app
from cygen.core.errors import CygenError
from cygen.learn import losses
from cygen.learn.checkpoint import read_checkpoint
from cygen.learn.config import resolve_config
from cygen.learn.trainer import train

ROOT = Path(__file__).resolve().parents[1]
TORUS = ROOT / "manifolds" / "torus.cy"
QUIET = {"eval": {"kahler_points": 0, "ricci_points": 0}}


def _flow(dt, fit_epochs=1, widths=(32, 32)):
    return {"model": {"widths": list(widths)}, "batch_size": 64,
            "loss": {"sigma": 0.0, "flow": 1.0},
            "flow": {"dt": dt, "fit_epochs": fit_epochs}, **QUIET}


def _val_sigmas(run: Path) -> list[float]:
    return [json.loads(x)["val"]["sigma"] for x in (run / "log.jsonl").read_text().splitlines()]


def test_the_flow_loss_is_the_backward_euler_residual():
    rng = np.random.default_rng(1)
    w, eta = rng.uniform(0.5, 2, 12), rng.uniform(0.8, 1.2, 12)
    stats = {"eta": jnp.asarray(eta), "flow_phi": jnp.asarray(rng.normal(size=12)),
             "flow_dt": jnp.full(12, 0.7)}
    consts = losses.constants(stats, jnp.asarray(w))
    _, values = losses.objective(stats, jnp.asarray(w), consts, {"flow": 1.0})
    eta_bar = np.sum(w * eta) / np.sum(w)
    r = np.asarray(stats["flow_phi"]) - 0.7 * np.log(eta / eta_bar)
    assert float(values["flow"]) == pytest.approx(np.sum(w * r**2) / np.sum(w), rel=1e-12)


def test_flow_lowers_sigma_on_the_torus_at_small_and_large_steps(tmp_path):
    for dt in (0.15, 8.0):  # implicit Euler: a large step is as stable as a small one
        m = train(TORUS, tmp_path / f"dt{dt}", points=2000, epochs=8, config=_flow(dt))
        sigmas = _val_sigmas(tmp_path / f"dt{dt}")
        assert m["status"] == "completed" and m["sigma"] < 0.25 * m["sigma_fs"], sigmas
        assert all(b < a for a, b in zip(sigmas[:4], sigmas[1:5], strict=True)), sigmas
        state = np.load(tmp_path / f"dt{dt}" / "flow.npz")
        assert float(state["dt"]) == dt and state["target"].shape == (1800,)


def test_flow_lowers_sigma_on_the_k3_quartic(tmp_path):
    m = train(ROOT / "manifolds" / "k3_quartic.cy", tmp_path / "k3", points=1500, epochs=4,
              config=_flow(1.0))
    sigmas = _val_sigmas(tmp_path / "k3")
    assert m["status"] == "completed" and sigmas[-1] < 0.93 * m["sigma_fs"], sigmas


def test_flow_resumed_inside_a_step_matches_an_uninterrupted_run(tmp_path):
    cfg = _flow(0.3, fit_epochs=2, widths=(8,))
    train(TORUS, tmp_path / "a", points=600, epochs=3, config=cfg)
    train(TORUS, tmp_path / "b", points=600, epochs=2, config=cfg)  # stops inside step 2
    train(None, tmp_path / "b", epochs=3, resume=True)
    pa, _ = read_checkpoint(tmp_path / "a" / "checkpoint.npz")
    pb, _ = read_checkpoint(tmp_path / "b" / "checkpoint.npz")
    for k in pa:
        np.testing.assert_array_equal(pa[k], pb[k])
    assert _val_sigmas(tmp_path / "a") == _val_sigmas(tmp_path / "b")


def test_flow_and_perelman_options_are_checked_and_documented():
    with pytest.raises(CygenError, match="needs model phi"):
        resolve_config("ldl", {"loss": {"flow": 1.0}})
    with pytest.raises(CygenError, match="did you mean 'fit_epochs'"):
        resolve_config("phi", {"flow": {"fit_epoch": 2}})
    with pytest.raises(CygenError, match="flow.dt"):
        resolve_config("phi", {"flow": {"dt": -1.0}})
    text = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    assert "--method" in text and "flow" in text
    for key in ("dirichlet", "perelman", "ramp_epochs", "fit_epochs"):
        assert key in text, key
    doc = (ROOT / "docs" / "training.md").read_text()
    for key in ("--method flow", "loss.flow", "flow.dt", "flow.fit_epochs", "loss.perelman",
                "loss.dirichlet", "ramp_epochs"):
        assert key in doc, key
