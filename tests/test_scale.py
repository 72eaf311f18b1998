"""Sharding over a device mesh (cygen.scale): 4 forced host devices give 1-device results.

JAX in this pytest process already has one CPU device, so the comparisons run in a
subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT
from typer.testing import CliRunner

from cygen.geometry import scale

SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import jax
    import numpy as np
    import cygen
    from cygen.sampling.sampler import sample
    from cygen.learn.step import _CHUNK_FNS
    from cygen.learn.trainer import train

    out = Path(sys.argv[1])
    assert len(jax.devices()) == 4, jax.devices()
    module = cygen.load(sys.argv[2])
    result = {}
    for d in (1, 4):
        ds = sample(module, 1200, seed=5, devices=d)
        np.savez(out / f"points{d}.npz", points=ds.points, weights=ds.weights)
        result[f"sample_devices_{d}"] = ds.metadata["summary"]["devices"]
    ds.save(out / "data.npz")
    cfg = {"model": {"widths": [8, 8], "activation": "gelu"}, "batch_size": 32,
           "steps_per_call": 8, "dtype": "float64", "optimizer": {"lr": 3e-3},
           "eval": {"kahler_points": 0, "ricci_points": 0}}
    for d in (1, 4):
        run = out / f"run{d}"
        m = train(module, run, data=out / "data.npz", points=800, epochs=2, config=cfg,
                  devices=d)
        log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
        result[f"train_{d}"] = {"loss": [x["train"]["loss"] for x in log],
                                "val": [x["val"]["sigma"] for x in log], "sigma": m["sigma"]}
    result["meshes"] = sorted(k[4].devices.size for k in _CHUNK_FNS if k[4] is not None)
    print("RESULT " + json.dumps(result))
""")


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    """Sample and train on 1 and on 4 forced host devices in one subprocess."""
    out = tmp_path_factory.mktemp("scale")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(out),
                           str(ROOT / "manifolds" / "fermat_quintic.cy")],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return out, json.loads(line[len("RESULT "):])


def test_sharded_sampling_gives_the_same_points(four_devices):
    out, result = four_devices
    assert result["sample_devices_1"] == 1 and result["sample_devices_4"] == 4
    one, four = (np.load(out / f"points{d}.npz") for d in (1, 4))
    assert one["points"].shape == four["points"].shape == (1200, 5)
    # the same multiset: every point of one run has a partner in the other (to rounding)
    a, b = one["points"], four["points"]
    dist = np.abs(a[:, None, :] - b[None, :, :]).max(axis=2)
    partner = dist.argmin(axis=1)
    assert dist.min(axis=1).max() < 1e-10
    assert len(set(partner.tolist())) == len(a)
    np.testing.assert_allclose(four["weights"][partner], one["weights"], rtol=1e-10)


def test_sharded_training_matches_one_device(four_devices):
    _, result = four_devices
    assert result["meshes"] == [4]  # the 4-device run really used a mesh
    one, four = result["train_1"], result["train_4"]
    assert len(one["loss"]) == len(four["loss"]) == 2
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-6)
    np.testing.assert_allclose(four["val"], one["val"], rtol=1e-6)
    np.testing.assert_allclose(four["sigma"], one["sigma"], rtol=1e-6)


def test_single_device_is_the_plain_path():
    assert scale.mesh(1) is None and scale.size(None) == 1
    x = {"a": np.arange(6.0)}
    placed = scale.shard_rows(x, None)
    np.testing.assert_array_equal(np.asarray(placed["a"]), x["a"])
    assert scale.replicate(x, None) is x and scale.constrain(x, None) is x
    assert scale.padded_rows(10, None) == 10
    with pytest.raises(ValueError, match="xla_force_host_platform_device_count"):
        scale.mesh(10_000)


def test_memory_mapped_dataset_and_lazy_rows(tmp_path):
    from cygen.sampling.dataset import Dataset, Rows

    rng = np.random.default_rng(0)
    ds = Dataset(rng.normal(size=(50, 5)) + 1j * rng.normal(size=(50, 5)), rng.random(50),
                 rng.random(50), rng.integers(0, 20, 50).astype(np.int32), {"seed": 3})
    ds.save(tmp_path / "d.npz")
    mapped = Dataset.load(tmp_path / "d.npz", mmap=True)
    assert isinstance(mapped.points, np.memmap) and mapped.metadata == {"seed": 3}
    for name in ("points", "weights", "omega_sq", "chart"):
        np.testing.assert_array_equal(getattr(mapped, name), getattr(ds, name))
    index = rng.permutation(50)[:30]
    rows = Rows(mapped.points, index)
    assert len(rows) == 30
    np.testing.assert_array_equal(rows[np.arange(7, 19)], ds.points[index[7:19]])


def test_initialize_without_a_cluster_is_a_no_op(monkeypatch):
    for name in ("CYGEN_COORDINATOR", "CYGEN_NUM_PROCESSES", "CYGEN_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert scale.initialize() is False
    assert scale.initialize(num_processes=1, process_id=0) is False


def test_cli_has_device_and_cluster_options():
    from cygen.cli import app

    runner = CliRunner()
    for command in ("sample", "train", "euler", "survey"):
        result = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert result.exit_code == 0 and "--devices" in result.output, command
    result = runner.invoke(app, ["--help"], terminal_width=200)
    for option in ("--coordinator", "--num-processes", "--process-id"):
        assert option in result.output


MULTI = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    pid, port, out = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    from cygen.geometry import scale
    if pid >= 0:
        assert scale.initialize(f"localhost:{port}", 2, pid)
    import jax
    import numpy as np
    import cygen
    from cygen.evaluate.integrals import euler
    from cygen.sampling.sampler import sample
    from cygen.learn.trainer import train
    module = cygen.load(sys.argv[4])
    ds = sample(module, 800, seed=5, devices=0)
    chi = euler(module, data=ds, devices=0)
    ds.save(out / f"data{pid}.npz")
    cfg = {"model": {"widths": [8, 8], "activation": "gelu"}, "batch_size": 32,
           "steps_per_call": 8, "dtype": "float64", "optimizer": {"lr": 3e-3},
           "eval": {"kahler_points": 0, "ricci_points": 0}}
    m = train(module, out / f"run{pid}", data=out / f"data{pid}.npz", epochs=2, config=cfg,
              devices=0)
    log = [json.loads(x) for x in (out / f"run{pid}" / "log.jsonl").read_text().splitlines()]
    print("RESULT " + json.dumps({"processes": jax.process_count(), "devices": len(jax.devices()),
                                  "points": float(np.abs(ds.points).sum()),
                                  "chi": chi["chi_mc"],
                                  "loss": [x["train"]["loss"] for x in log], "sigma": m["sigma"]}))
""")


@pytest.mark.slow
def test_two_processes_with_jax_distributed_match_one(tmp_path):
    """Two local processes (jax.distributed, CPU collectives) = one process, one device."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    quintic = str(ROOT / "manifolds" / "fermat_quintic.cy")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, "-c", MULTI, str(pid), str(port), str(tmp_path),
                               quintic], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for pid in (-1, 0, 1)]
    results = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, stderr[-3000:]
        line = next(x for x in stdout.splitlines() if x.startswith("RESULT "))
        results.append(json.loads(line[len("RESULT "):]))
    single, *multi = results
    assert single["processes"] == 1 and all(r["processes"] == r["devices"] == 2 for r in multi)
    for r in multi:
        assert r["points"] == pytest.approx(single["points"], rel=1e-12)
        assert r["chi"] == pytest.approx(single["chi"], rel=1e-9)
        np.testing.assert_allclose(r["loss"], single["loss"], rtol=1e-6)
        assert r["sigma"] == pytest.approx(single["sigma"], rel=1e-6)
