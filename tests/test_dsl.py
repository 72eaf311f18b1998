"""The .cy language: literals, parameters, generic(...), defaults, and the shipped files."""

from __future__ import annotations

import sympy as sp
from conftest import MANIFOLDS

from cygen.compiler.generic import coefficient, generic_polynomial
from cygen.compiler.lower import lower
from cygen.compiler.monomials import monomials as monomial_exponents
from cygen.compiler.parse import parse
from cygen.compiler.pipeline import compile_source, parse_overrides


def _eq(source: str, overrides=None) -> sp.Expr:
    return lower(parse(source, "t.cy"), overrides).equations[0]


def test_literals_are_exact():
    z0, z1 = sp.symbols("z0 z1")
    expr = _eq("ambient P1\neq (-1/5 + 2i)*z0^2 + 0.5*I*z1^2 - 1.5e1i*z0*z1\n")
    assert expr.coeff(z0**2) == sp.Rational(-1, 5) + 2 * sp.I
    assert expr.coeff(z1**2) == sp.I / 2
    assert expr.coeff(z0 * z1) == -15 * sp.I


def test_param_default_and_override():
    source = "ambient P4\nparam psi = -1/5\neq z0^5 - 5*psi*z0*z1*z2*z3*z4\n"
    prod = sp.Mul(*sp.symbols("z0:5"))
    assert _eq(source).coeff(prod) == 1
    overridden = _eq(source, parse_overrides(["psi=0.1+0.2i"]))
    assert overridden.coeff(prod) == -5 * (sp.Rational(1, 10) + sp.I / 5)


def test_default_prefixes_and_comments():
    program = parse("# comment\nambient P1 * P1 # trailing\n\neq z0*w0 + z1*w1\n", "t.cy")
    model = lower(program)
    assert [f.prefix for f in model.factors] == ["z", "w"]
    assert model.name == "t"


def test_line_continuation():
    expr = _eq("ambient P2\neq z0^3 + \\\n   z1^3 + z2^3\n")
    assert expr == sum(sp.symbols("z0:3")[i] ** 3 for i in range(3))


def test_generic_is_dense_and_reproducible():
    x = sp.symbols("x0:3")
    y = sp.symbols("y0:3")
    poly = generic_polynomial([x, y], (3, 3), seed=1, equation=0)
    assert len(sp.Add.make_args(poly)) == 100
    assert poly == generic_polynomial([x, y], (3, 3), seed=1, equation=0)
    assert poly != generic_polynomial([x, y], (3, 3), seed=2, equation=0)
    assert poly != generic_polynomial([x, y], (3, 3), seed=1, equation=1)
    # pinned values: changing these breaks every generic manifold users have written
    pinned = coefficient(1, 0, (3, 0, 0, 3, 0, 0))
    assert pinned == sp.Rational(-52460, 10**6) - sp.I * sp.Rational(638356, 10**6)
    assert coefficient(0, 0, (1,)) == sp.Rational(373415, 10**6) - sp.I * sp.Rational(
        1004222, 10**6
    )


def test_generic_coefficients_are_unit_complex_gaussians():
    import numpy as np

    values = np.array([complex(coefficient(7, 0, (i,))) for i in range(4000)])
    assert abs(np.mean(np.abs(values) ** 2) - 1) < 0.08
    assert abs(np.mean(values)) < 0.05
    assert abs(np.mean(values**2)) < 0.05  # circular: E c^2 = 0


def test_monomial_count():
    assert len(monomial_exponents(4, 3)) == 20
    assert len(monomial_exponents(5, 5)) == 126


def test_every_shipped_manifold_compiles():
    names = {p.stem for p in MANIFOLDS}
    assert {
        "fermat_quintic",
        "dwork_quintic",
        "tian_yau",
        "bicubic_generic",
        "torus",
        "k3_quartic",
        "p5_33",
        "schoen",
    } <= names
    for path in MANIFOLDS:
        result = compile_source(path.read_text(), path.name)
        assert result.ir.dimension >= 1


def test_issue_examples_verbatim():
    quintic = (
        "# manifolds/fermat_quintic.cy\nname fermat_quintic\nambient P4\n"
        "eq z0^5 + z1^5 + z2^5 + z3^5 + z4^5\n"
    )
    assert compile_source(quintic).ir.topology.euler == -200
