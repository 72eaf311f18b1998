"""Shared fixtures: compiled modules of every shipped manifold, points on them."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)

ROOT = Path(__file__).resolve().parents[1]
MANIFOLDS = sorted((ROOT / "manifolds").glob("*.cy"))
SHARED = ROOT.parent / "shared"


def pytest_addoption(parser):
    parser.addoption(
        "--update-goldens", action="store_true", help="Rewrite tests/goldens from current output."
    )


@pytest.fixture(scope="session")
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Compiled-module cache in a temporary directory (tests never touch ~/.cache), with
    XLA's persistent compilation cache in it from the start, as every CLI command enables it:
    tests that rebuild the same jitted function (a new closure over the same module) load the
    executable instead of compiling it again."""
    from cygen.geometry.scale import enable_compilation_cache

    mp = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("cygen-cache")
    mp.setenv("CYGEN_CACHE_DIR", str(cache))
    enable_compilation_cache(cache / "xla")
    yield
    mp.undo()


_COMPILED: dict = {}


def compiled(path: Path):
    """(CompileResult, module) for a .cy file, compiled once per test session."""
    from cygen.compiler.loader import load
    from cygen.compiler.pipeline import compile_file

    key = str(path)
    if key not in _COMPILED:
        _COMPILED[key] = (compile_file(path), load(path))
    return _COMPILED[key]


def newton_points(module, n: int, seed: int) -> np.ndarray:
    """n normalised points on the variety: Gauss-Newton from seeded random starts."""
    rng = np.random.default_rng(seed)
    equations = jax.jit(jax.vmap(module.equations))
    jacobian = jax.jit(jax.vmap(module.jacobian))
    dim = len(module.SPEC["coordinates"])
    z = rng.normal(size=(4 * n, dim)) + 1j * rng.normal(size=(4 * n, dim))
    for _ in range(80):
        p = np.asarray(equations(z))
        j = np.asarray(jacobian(z))
        z = z - np.einsum("bmk,bk->bm", np.linalg.pinv(j), p)
        z = np.asarray(jax.vmap(module.normalize)(z))
    p = np.asarray(equations(z))
    j = np.asarray(jacobian(z))
    scale = np.linalg.norm(j, axis=(1, 2)) * np.linalg.norm(z, axis=1)
    good = np.max(np.abs(p), axis=1) / scale < 1e-13
    assert good.sum() >= n, "Newton projection failed too often"
    return z[good][:n]


def point_set(module, z, weights):
    """A Dataset of given points and weights (normalised, with their charts and |Omega|^2),
    for consumers that take what the sampler stores."""
    from cygen.geometry import runtime as rt
    from cygen.sampling.dataset import Dataset

    geo = module.GEOMETRY
    z = jax.vmap(lambda p: rt.normalize(geo, p))(jax.numpy.asarray(z))
    charts = jax.vmap(lambda p: rt.select_chart(geo, p))(z)
    omega = jax.vmap(lambda p, c: rt.omega_sq(geo, p, c))(z, charts)
    return Dataset(np.asarray(z), np.asarray(weights, np.float64), np.asarray(omega),
                   np.asarray(charts, np.int32))


def regular_charts(module, z) -> list[int]:
    """Every chart in which the point z is regular (affine coordinate nonzero, dependent
    minor invertible)."""
    spec = module.SPEC
    jac = np.asarray(module.jacobian(jax.numpy.asarray(z)))
    good = []
    for c, chart in enumerate(spec["charts"]):
        if np.min(np.abs(z[chart["affine"]])) < 0.2 * np.max(np.abs(z)):
            continue
        if abs(np.linalg.det(jac[:, chart["dependent"]])) < 1e-3:
            continue
        good.append(c)
    return good
