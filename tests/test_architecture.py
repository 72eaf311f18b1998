"""The house rules of docs/architecture.md, checked on the source tree.

* every import inside ``cygen/`` (module level and function level, and the lazy tables of
  PEP 562 ``__getattr__``) points to the importer's own layer or a lower one;
* there is no import cycle anywhere in ``cygen/``;
* the compiler never imports jax (by source, and by running it);
* ``import cygen`` and ``cygen --help`` load neither jax nor sympy;
* no function is longer than 100 lines; subpackages declare ``__all__``; nobody imports
  another subpackage's underscore names; class names are unique.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cygen"

# lowest first; a module may import its own layer and the layers before it
LAYERS = ["core", "compiler", "geometry", "sampling", "learn", "evaluate", "studies", "cli"]
TOP = len(LAYERS)  # the root package (cygen/__init__.py, cygen/_compat.py) re-exports all
LAZY_TABLES = ("_PUBLIC", "_API", "_MODULES", "ALIASES", "CALLABLE")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] not in LAYERS:
        return TOP
    return LAYERS.index(parts[1])


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{node.module}" if node.module else base


def _lazy_targets(tree: ast.AST) -> list[str]:
    """Module names in the lazy-import tables (dicts of names to module strings)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {t.id for t in targets if isinstance(t, ast.Name)}
            if names & set(LAZY_TABLES) and node.value is not None:
                found += [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)
                          and isinstance(c.value, str) and c.value.startswith("cygen.")]
    return found


def _imports(module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import of ``module``'s source."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((_resolve(module, node), [a.name for a in node.names], node.lineno))
    out += [(target, [], 0) for target in _lazy_targets(tree)]
    return out


def _targets(target: str, names: list[str]) -> list[str]:
    """The cygen modules an import statement loads: ``from pkg import sub`` loads ``pkg.sub``
    (and ``pkg``'s ``__init__``, which is counted only when no submodule is named)."""
    subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
    if subs:
        return subs
    return [target] if target in MODULES else []


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module in MODULES:
        deps = set()
        for target, names, _ in _imports(module):
            for cand in _targets(target, names):
                if cand != module and not module.startswith(cand + "."):
                    deps.add(cand)
        graph[module] = deps
    return graph


def test_every_import_points_down_the_layers():
    bad = []
    for module in MODULES:
        for target, names, line in _imports(module):
            if not target.startswith("cygen"):
                continue
            for cand in _targets(target, names):
                if _layer(cand) > _layer(module):
                    bad.append(f"{MODULES[module].relative_to(ROOT)}:{line} imports {cand}")
    assert not bad, "imports that point up the layers:\n" + "\n".join(sorted(set(bad)))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_anywhere():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles():
    """The check above can fail: a planted loop is reported."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


def test_compiler_sources_never_import_jax():
    for module in MODULES:
        if _layer(module) in (LAYERS.index("core"), LAYERS.index("compiler")):
            imported = [t for t, _, _ in _imports(module)]
            assert not any(t == "jax" or t.startswith("jax.") for t in imported), module


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


def test_compiling_and_info_never_load_jax(tmp_path):
    code = (
        "import sys\n"
        "import cygen.compiler\n"
        "assert 'jax' not in sys.modules\n"
        "from cygen.compiler import compile_file\n"
        "compile_file('manifolds/tian_yau.cy')\n"
        "from typer.testing import CliRunner\n"
        "from cygen.cli import app\n"
        "r = CliRunner().invoke(app, ['info', 'manifolds/fermat_quintic.cy', '--json'])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['compile', 'manifolds/torus.cy', '-o', "
        f"{str(tmp_path / 't.py')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "print('jax' in sys.modules)\n"
    )
    assert _run(code) == "False"


def test_import_cygen_and_help_load_neither_jax_nor_sympy():
    code = ("import sys, cygen, cygen.cli\n"
            "from typer.testing import CliRunner\n"
            "r = CliRunner().invoke(cygen.cli.app, ['--help'])\n"
            "assert r.exit_code == 0\n"
            "print('jax' in sys.modules, 'sympy' in sys.modules, cygen.__version__)")
    jax_loaded, sympy_loaded, _ = _run(code).split()
    assert (jax_loaded, sympy_loaded) == ("False", "False")


def test_the_lazy_api_resolves_every_name():
    code = ("import cygen\n"
            "missing = [n for n in cygen.__all__ if getattr(cygen, n, None) is None]\n"
            "print(missing)")
    assert _run(code) == "[]"


def test_no_function_over_100_lines():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > 100:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n})")
    assert not long, long


@pytest.mark.parametrize("layer", LAYERS)
def test_every_subpackage_declares_all(layer):
    init = PACKAGE / layer / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
             if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{init} has no __all__"


def test_no_module_imports_another_subpackages_private_names():
    bad = []
    for module in MODULES:
        package = module.split(".")[:2]
        for target, names, line in _imports(module):
            if not target.startswith("cygen.") or target.split(".")[:2] == package:
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            parts = [p for p in target.split(".") if p.startswith("_")]
            if private or parts:
                bad.append(f"{MODULES[module].relative_to(ROOT)}:{line} {target} {private}")
    assert not bad, bad


def test_class_names_are_unique():
    names = Counter()
    for path in MODULES.values():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                names[node.name] += 1
    assert [n for n, k in names.items() if k > 1] == []


def test_the_whole_tree_passes_ruff():
    """Source, tests, benchmarks, doc scripts and the tutorial notebooks are ruff-clean."""
    import shutil
    import subprocess

    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install .[test])")
    out = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:]
