"""Every user error: a located message with a caret, exit code 2, never a traceback."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cygen.cli import app
from cygen.compiler.pipeline import compile_source
from cygen.core.errors import CygenError

CASES = {
    "syntax": ("ambient P4\neq z0^5 + * z1\n", 2, 11, "unexpected '*'"),
    "bad_character": ("ambient P4\neq z0^5 $ z1\n", 2, 9, "unexpected character '$'"),
    "unknown_symbol": ("ambient P4\neq z0^5 + z1^5 + w2^5\n", 2, 18, "unknown symbol 'w2'"),
    "not_homogeneous": ("ambient P4\neq z0^5 + z1^4\n", 2, 1, "not homogeneous"),
    "not_homogeneous_factor": (
        "ambient P1[x] * P2[y]\neq x0^2*y0^3 + x1*y1^3\n",
        2,
        1,
        "not homogeneous in factor P1[x]",
    ),
    "c1": ("ambient P4\neq z0^4 + z1^4 + z2^4 + z3^4 + z4^4\n", 1, 9, "c1 != 0"),
    "c1_product": ("ambient P1[a] * P2[b]\neq a0^2*b0^2 + a1^2*b1^2\n", 1, 17, "P2[b]"),
    "dimension": ("ambient P2\neq z0 + z1\neq z1 + z2\neq z0^1 - z2\n", 4, 1, "dimension -1 < 1"),
    "duplicate_param": (
        "ambient P4\nparam a = 1\nparam a = 2\neq z0^5\n",
        3,
        1,
        "duplicate name 'a'",
    ),
    "duplicate_coordinates": ("ambient P2[x] * P2[x]\neq x0^3\n", 1, 17, "duplicate name 'x0'"),
    "param_shadows_coordinate": (
        "ambient P4\nparam z0 = 1\neq z1^5\n",
        2,
        1,
        "duplicate name 'z0'",
    ),
    "duplicate_name_stmt": (
        "name a\nname b\nambient P4\neq z0^5\n",
        2,
        1,
        "duplicate 'name' statement",
    ),
    "missing_ambient": ("name a\neq z0^5\n", 1, 1, "missing 'ambient'"),
    "no_equations": ("ambient P4\n", 1, 1, "no equations"),
    "exponent": ("ambient P4\neq z0^(1/2) + z1^5\n", 2, 8, "non-negative integer"),
    "division": ("ambient P4\neq z0^6/z1 + z1^5\n", 2, 9, "division by a coordinate"),
    "generic_arity": (
        "ambient P2[x] * P2[y]\neq generic(3; seed=1)\n",
        2,
        4,
        "one degree per factor",
    ),
    "kahler_arity": (
        "ambient P2[x] * P2[y]\nkahler 1\neq x0^3*y0^3\n",
        2,
        1,
        "one value per factor",
    ),
    "kahler_negative": ("ambient P4\nkahler -1\neq z0^5\n", 2, 8, "real and positive"),
    "reserved": ("ambient P4[I]\neq I0^5\n", 1, 9, "reserved"),
    "zero_equation": ("ambient P4\neq z0 - z0\n", 2, 1, "identically zero"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_error_is_located(case):
    source, line, column, message = CASES[case]
    with pytest.raises(CygenError) as info:
        compile_source(source, "bad.cy")
    error = info.value
    assert message in error.message
    assert (error.span.line, error.span.column) == (line, column)
    text = error.format()
    assert text.startswith(f"bad.cy:{line}:{column}: error: ")
    caret_line = text.splitlines()[-1]
    assert caret_line.strip().startswith("^")
    assert caret_line.index("^") - 4 == column - 1


@pytest.mark.parametrize("case", ["syntax", "unknown_symbol", "c1", "dimension"])
def test_cli_exit_code_and_no_traceback(tmp_path, case):
    source, line, column, message = CASES[case]
    path = tmp_path / "bad.cy"
    path.write_text(source)
    for args in (["compile", str(path), "-o", str(tmp_path / "out.py")], ["info", str(path)]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output
        assert f"bad.cy:{line}:{column}: error:" in result.output
        assert message in result.output
    assert not (tmp_path / "out.py").exists(), "nothing is half-written on error"


def test_allow_non_cy():
    source = "ambient P4\neq z0^4 + z1^4 + z2^4 + z3^4 + z4^4\n"
    result = compile_source(source, "quartic3.cy", allow_non_cy=True)
    assert result.ir.configuration == ((4,),)
    assert result.ir.topology.euler == -56  # quartic threefold


def test_bad_param_override():
    source = "ambient P4\nparam psi = 0\neq z0^5 - 5*psi*z0*z1*z2*z3*z4\n"
    with pytest.raises(CygenError, match="unknown parameter"):
        compile_source(source, "d.cy", ["phi=1"])
    with pytest.raises(CygenError, match="--param"):
        compile_source(source, "d.cy", ["psi=1+"])
    with pytest.raises(CygenError, match="NAME=VALUE"):
        compile_source(source, "d.cy", ["psi"])


def test_unreadable_file(tmp_path):
    result = CliRunner().invoke(app, ["info", str(tmp_path / "missing.cy")])
    assert result.exit_code == 2
    assert "cannot read" in result.output


_ALPHABET = st.sampled_from(
    list("z0123456789+-*/^()[],;=# .i\n\t")
    + [
        "eq ",
        "ambient ",
        "P4",
        "P2[x]",
        "param ",
        "kahler ",
        "name ",
        "generic(",
        "seed=",
        "I",
        "x0",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=40).map("".join))
def test_fuzz_front_end_never_crashes(text):
    try:
        compile_source(text, "fuzz.cy", allow_non_cy=True)
    except CygenError as exc:
        assert exc.format().startswith("fuzz.cy")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_arbitrary_text(text):
    try:
        compile_source(text, "fuzz.cy")
    except CygenError:
        pass
