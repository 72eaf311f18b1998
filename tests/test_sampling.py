"""Point sampling: exactness of every slice, the measure (volume self-test), weights, sigma."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from conftest import MANIFOLDS, ROOT, compiled
from typer.testing import CliRunner

from cygen.cli import app
from cygen.core.errors import CygenError
from cygen.sampling.dataset import Dataset
from cygen.sampling.sampler import sample, slice_solvers

# P5[3,3] needs homotopy continuation, whose XLA compilation is slow on 2 cores.
FAST = [p for p in MANIFOLDS if p.stem != "p5_33"]
SLOW = [pytest.param(p, marks=pytest.mark.slow) for p in MANIFOLDS if p.stem == "p5_33"]


def _module(name):
    return compiled(ROOT / "manifolds" / f"{name}.cy")[1]


@pytest.fixture(scope="module", params=FAST + SLOW, ids=lambda p: p.stem)
def sampled(request):
    module = compiled(request.param)[1]
    return module, sample(module, 6000, seed=11)


def test_residuals_and_volume(sampled):
    module, data = sampled
    s = data.metadata["summary"]
    assert s["n"] == len(data) == 6000
    assert s["max_residual"] < 1e-12
    assert s["slices_discarded"] == 0
    assert abs(s["volume_fs_mc"] - s["volume_fs_exact"]) <= 3 * s["volume_fs_err"] + 1e-12
    assert np.all(data.weights > 0) and np.all(np.isfinite(data.weights))
    eqs = np.asarray(jax.vmap(module.equations)(data.points))
    assert np.max(np.abs(eqs)) < 1e-11
    charts = np.asarray(jax.vmap(module.select_chart)(data.points))
    np.testing.assert_array_equal(charts, data.chart)
    np.testing.assert_allclose(jax.vmap(module.normalize)(data.points), data.points, atol=1e-15)


@pytest.mark.parametrize("name", ["tian_yau", "schoen", "bicubic_generic",
                                  pytest.param("p5_33", marks=pytest.mark.slow)])
def test_every_slice_has_exactly_d_distinct_points(name):
    module = _module(name)
    # the same chunk size as sample(module, 6000) above: the compiled solvers are reused
    for solver, spec in zip(slice_solvers(module, 6000), module.SPEC["slices"], strict=True):
        z, ok = solver.fn(jax.random.PRNGKey(5))
        z = np.asarray(z).reshape(solver.slices, solver.degree, -1)
        ok = np.asarray(ok).reshape(solver.slices, solver.degree)
        assert ok.all(axis=1).mean() > 0.99
        assert (ok.all(axis=1) == ok.any(axis=1)).all(), "slices are kept or dropped whole"
        assert solver.degree == spec["points"]
        zn = np.asarray(jax.vmap(module.normalize)(z.reshape(-1, z.shape[-1]))).reshape(z.shape)
        for points in zn[ok.all(axis=1)][:200]:
            gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
            assert np.min(gaps + np.eye(len(points))) > 1e-6, "repeated solution"
        eqs = np.asarray(jax.vmap(module.equations)(zn.reshape(-1, zn.shape[-1])))
        assert np.max(np.abs(eqs)) < 1e-11


def _variant(tmp_path, name, kahler):
    text = (ROOT / "manifolds" / f"{name}.cy").read_text()
    lines = [ln for ln in text.splitlines() if not ln.startswith("kahler")]
    lines.insert(2, f"kahler {kahler}")
    path = tmp_path / f"{name}_k.cy"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", [
    "tian_yau", pytest.param("bicubic_generic", marks=pytest.mark.slow),
    pytest.param("schoen", marks=pytest.mark.slow)])
def test_volume_with_nontrivial_kahler_moduli(tmp_path, name):
    kahler = "1, 3, 2" if name == "schoen" else "1, 2"
    data = sample(_variant(tmp_path, name, kahler), 8000, seed=2)
    s = data.metadata["summary"]
    assert s["volume_fs_err"] > 0
    assert abs(s["volume_fs_mc"] - s["volume_fs_exact"]) <= 3 * s["volume_fs_err"]


def test_hypersurface_weights_are_omega_over_det_fs():
    module = _module("k3_quartic")
    data = sample(module, 2000, seed=4)
    det = np.real(np.linalg.det(np.asarray(jax.vmap(module.fs_metric)(data.points, data.chart))))
    ratio = data.weights * det / data.omega_sq
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)


@pytest.mark.parametrize(("name", "reference"), [
    ("fermat_quintic", 0.3728), ("k3_quartic", 0.2303), ("torus", 0.0974)])
def test_sigma_fs_fermat_family(name, reference):
    n = 40000
    s = sample(_module(name), n, seed=1).metadata["summary"]
    assert abs(s["sigma_fs"] - reference) < 4 * 0.28 / np.sqrt(n) + 0.0005


@pytest.mark.slow
@pytest.mark.parametrize(("name", "reference", "tol"), [
    ("fermat_quintic", 0.3728, 0.003), ("k3_quartic", 0.2303, 0.003), ("torus", 0.0974, 0.002)])
def test_sigma_fs_fermat_family_200k(name, reference, tol):
    s = sample(_module(name), 200_000, seed=7).metadata["summary"]
    assert abs(s["sigma_fs"] - reference) < tol


def test_deterministic():
    module = _module("tian_yau")
    a = sample(module, 3000, seed=9)
    b = sample(module, 3000, seed=9)
    c = sample(module, 3000, seed=10)
    np.testing.assert_array_equal(a.points, b.points)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.allclose(a.points[:10], c.points[:10])


def test_cli_sample_writes_npz(tmp_path):
    target = tmp_path / "ty.npz"
    result = CliRunner().invoke(app, ["sample", str(ROOT / "manifolds/tian_yau.cy"), "-n", "3000",
                                      "-o", str(target), "--seed", "9", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    for key in ("n", "points_per_second", "max_residual", "sigma_fs", "volume_fs_mc",
                "volume_fs_err", "volume_fs_exact", "slices_discarded"):
        assert key in summary
    data = Dataset.load(target)
    assert data.points.shape == (3000, 8) and data.points.dtype == np.complex128
    assert data.chart.dtype == np.int32
    assert data.metadata["seed"] == 9 and data.metadata["source_hash"]
    assert data.metadata["slices"] == [{"t": [2, 1], "points": 9}, {"t": [1, 2], "points": 9}]
    np.testing.assert_array_equal(data.points, sample(_module("tian_yau"), 3000, seed=9).points)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("args", [["-n", "0"], ["-n", "10", "-o", "/proc/nonexistent/x.npz"]])
def test_cli_sample_bad_input(args):
    result = CliRunner().invoke(app, ["sample", str(ROOT / "manifolds/torus.cy"), *args])
    assert result.exit_code == 2
    assert "error:" in result.output


def test_singular_manifold_is_refused(tmp_path):
    path = tmp_path / "dwork1.cy"
    path.write_text((ROOT / "manifolds/dwork_quintic.cy").read_text().replace("-1/5", "1"))
    with pytest.raises(CygenError, match="singular"):
        sample(path, 1000)
    result = CliRunner().invoke(app, ["sample", str(path), "-n", "1000",
                                      "-o", str(tmp_path / "x.npz")])
    assert result.exit_code == 2
    assert not (tmp_path / "x.npz").exists()


def test_chunks_shrink_with_many_dependent_sets_and_still_give_n_points(monkeypatch):
    """Chart selection evaluates one minor per admissible dependent set and point: the chunk
    size is bounded by SELECT_BUDGET (Tian-Yau: 48 sets of 3 x 3 minors)."""
    from cygen.compiler.loader import load
    from cygen.sampling import sampler

    module = load(ROOT / "manifolds" / "tian_yau.cy")
    assert sampler.chunk_limit(module) == sampler.SELECT_BUDGET // (48 * 9)
    monkeypatch.setattr(sampler, "SELECT_BUDGET", 48 * 9 * 300)
    assert sampler.chunk_limit(module) == 300
    data = sampler.sample(module, 1000, seed=3)
    assert len(data) == 1000 and np.all(np.isfinite(data.weights))
