"""Small dense linear algebra in per-point code: exact against numpy, and never a LAPACK
custom call (jaxlib's batched CPU LAPACK kernels share XLA's intra-op thread pool and
deadlock under concurrent dispatch; seen as a hang of `cygen moduli` on P5[3,3])."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import ROOT

from cygen.compiler.loader import load
from cygen.geometry import moduli as km
from cygen.geometry import runtime as rt

LAPACK_PRIMITIVES = {"lu", "triangular_solve", "cholesky", "eigh", "eig", "svd", "qr",
                     "householder_product", "lu_pivots_to_permutation", "schur", "hessenberg"}


def _primitives(jaxpr) -> set[str]:
    names = set()
    for eqn in jaxpr.eqns:
        names.add(eqn.primitive.name)
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    names |= _primitives(inner)
    return names


def _random(rng, shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


@pytest.mark.parametrize("k", range(1, 8))
def test_small_solves_and_determinants_match_numpy(k):
    rng = np.random.default_rng(k)
    m, rhs = _random(rng, (6, k, k)), _random(rng, (6, k, 2))
    if k > 1:
        m[0, 0, 0] = 0.0  # elimination must pivot
        m[1] = m[1][::-1]  # a permutation: the determinant's sign
    x = jax.jit(rt.solve_batched)(m, rhs)
    d = jax.jit(rt.det)(m)
    np.testing.assert_allclose(x, np.linalg.solve(m, rhs), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d, np.linalg.det(m), rtol=1e-10, atol=1e-12)
    assert not _primitives(jax.make_jaxpr(rt.solve_batched)(m, rhs).jaxpr) & LAPACK_PRIMITIVES
    assert not _primitives(jax.make_jaxpr(rt.det)(m).jaxpr) & LAPACK_PRIMITIVES


def test_the_primitive_walk_sees_lapack():
    """The check below is able to fail: jnp.linalg.solve is an LU custom call."""
    m = jnp.eye(5, dtype=complex)
    assert _primitives(jax.make_jaxpr(jnp.linalg.solve)(m, m).jaxpr) & LAPACK_PRIMITIVES


@pytest.mark.parametrize("source", ["p5_33_family", "tian_yau_family"])
def test_kodaira_spencer_kernel_calls_no_lapack(source):
    """Five and six variable coordinates per chart: the lift solves are above the closed
    forms (K <= 3) and go through the unrolled elimination."""
    module = load(ROOT / "manifolds" / f"{source}.cy")
    point = jax.vmap(lambda z, c: km.ks_point(module.GEOMETRY, module.dp_dt, module.d2p_dzdt,
                                              z, c))
    z = jnp.ones((4, len(module.GEOMETRY.factor_of)), complex)  # tracing needs shapes only
    jaxpr = jax.make_jaxpr(point)(z, jnp.zeros(4, jnp.int32))
    assert not _primitives(jaxpr.jaxpr) & LAPACK_PRIMITIVES


def test_runtime_packages_do_not_call_jax_linear_algebra():
    """Host-side numpy.linalg is fine; jax.numpy.linalg / jax.scipy.linalg factorisations in
    cygen's traced code are not."""
    pattern = re.compile(r"\bjnp\.linalg\.(solve|inv|det|slogdet|cholesky|eigh?|svd|qr|lstsq|pinv)"
                         r"|jax\.scipy\.linalg|lax\.linalg")
    offenders = [f"{path.relative_to(ROOT)}:{n}"
                 for path in sorted((ROOT / "cygen").rglob("*.py"))
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, offenders
