"""The documentation site and the API's docstrings.

- Every name of the re-exported API (``cygen._API``) has a numpydoc docstring with
  parameters (or attributes), returns and an example, and every example runs (doctest, on the
  flat torus: seconds).
- ``mkdocs build --strict`` builds the site (docs pages, tutorials with their outputs, the
  command pages generated from the typer app, the API reference); a broken link, a broken
  anchor or an unresolved API reference fails it (shown on small sites built with the same
  validation settings).
- The tutorials re-execute (slow).

The site needs the ``docs`` extra (``pip install -e ".[test,docs]"``, what the README's test
command and CI install); without it these tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import doctest
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import cygen

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "docs" / "tutorials").glob("*.ipynb"))
SECTIONS_FUNCTION = ("Parameters", "Returns", "Examples")
SECTIONS_CLASS = ("Attributes", "Examples")


def require(module: str):
    """Import ``module`` (a docs dependency); skip without it, fail under CI."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is missing: CI must install the docs extra")
        pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")


def api_objects():
    return {name: getattr(importlib.import_module(mod), name) for name, mod in cygen._API.items()}


# ---------------------------------------------------------------------------------------------
# Docstrings


def sections(doc: str) -> set[str]:
    """numpydoc section titles of a docstring: a line followed by a line of dashes."""
    lines = doc.splitlines()
    return {a.strip() for a, b in zip(lines, lines[1:], strict=False)
            if b.strip() and set(b.strip()) == {"-"} and len(b.strip()) == len(a.strip())}


def missing_sections(obj) -> list[str]:
    import inspect

    doc = inspect.getdoc(obj) or ""
    wanted = SECTIONS_CLASS if inspect.isclass(obj) else SECTIONS_FUNCTION
    return [s for s in wanted if s not in sections(doc)] + (
        [] if ">>> " in doc else ["a doctest example"])


def test_every_api_docstring_has_parameters_returns_and_an_example():
    problems = {name: m for name, obj in api_objects().items() if (m := missing_sections(obj))}
    assert not problems, f"docstrings missing numpydoc sections: {problems}"


def test_the_docstring_check_can_fail():
    def bare(x):
        """One line."""

    def full(x):
        """Summary.

        Parameters
        ----------
        x : int

        Returns
        -------
        int

        Examples
        --------
        >>> full(1)
        """

    assert missing_sections(bare) == [*SECTIONS_FUNCTION, "a doctest example"]
    assert missing_sections(full) == []


def run_doctests(objects: dict) -> tuple[int, list[str]]:
    """Run the examples of ``objects`` (name -> object); (examples run, failure reports)."""
    finder = doctest.DocTestFinder(recurse=False)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    attempted, failures = 0, []
    for name, obj in objects.items():
        for test in finder.find(obj, name, globs={}):
            out: list[str] = []
            runner = doctest.DocTestRunner(optionflags=flags)
            result = runner.run(test, out=out.append)
            attempted += result.attempted
            if result.failed:
                failures.append("".join(out))
    return attempted, failures


# The examples that train a (seconds-long) run: about 25 s of compilation between them, so
# they run with the slow tests; the others run by default.
TRAINING_EXAMPLES = ("train", "Run", "load_run", "evaluate_run")


def test_api_examples_run(monkeypatch):
    """Every example of the re-exported API runs and prints what its docstring says."""
    monkeypatch.chdir(ROOT)  # the examples name manifolds/torus.cy
    objects = {k: v for k, v in api_objects().items() if k not in TRAINING_EXAMPLES}
    attempted, failures = run_doctests(objects)
    assert attempted >= 3 * len(objects), attempted
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_api_training_examples_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    objects = {k: v for k, v in api_objects().items() if k in TRAINING_EXAMPLES}
    assert len(objects) == len(TRAINING_EXAMPLES)
    attempted, failures = run_doctests(objects)
    assert attempted >= 3 * len(objects), attempted
    assert not failures, "\n".join(failures)


def test_the_doctest_runner_reports_a_wrong_example():
    def wrong():
        """
        >>> 1 + 1
        3
        """

    attempted, failures = run_doctests({"wrong": wrong})
    assert attempted == 1 and len(failures) == 1 and "Expected:\n    3" in failures[0]


# ---------------------------------------------------------------------------------------------
# The command pages


def load_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("cli_pages", ROOT / "docs/hooks/cli_pages.py")
    hook = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, hook)
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def test_command_pages_are_the_programs_help():
    from typer.testing import CliRunner

    from cygen.cli import app

    hook = load_hook()
    tree = hook.command_tree()
    pages = hook.pages(tree)
    names = [c.slug for c in tree.children]
    assert {"compile", "sample", "train", "moduli", "plot"} <= set(names)
    assert set(pages) == {"cli/index.md", *(f"cli/{n}.md" for n in names)}
    runner = CliRunner()
    for args in (["sample"], ["plot", "eta"]):
        shown = runner.invoke(app, [*args, "--help"], terminal_width=hook.WIDTH)
        assert shown.exit_code == 0
        page = pages[f"cli/{args[0]}.md"]
        # the page holds the same options and help lines as `cygen ... --help`
        for line in shown.output.splitlines()[1:]:
            assert line.strip() in page, (args, line)
    # the navigation gets one entry per command
    nav = [{"Command reference": ["cli/index.md"]}]
    hook.on_config({"nav": nav})
    assert [next(iter(e.values())) for e in nav[0]["Command reference"][1:]] == [
        f"cli/{n}.md" for n in names]


# ---------------------------------------------------------------------------------------------
# Building the site


def mkdocs_build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = os.environ | {"NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True, text=True, env=env, cwd=config.parent, timeout=600)


def test_site_builds_strictly(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python", "mkdocs_jupyter"):
        require(module)
    site = tmp_path / "site"
    start = time.perf_counter()
    result = mkdocs_build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stderr[-4000:]
    seconds = time.perf_counter() - start
    # every page of the navigation was built, the command pages and the API included
    hook = load_hook()
    for page in hook.pages():
        assert (site / page.replace(".md", "/index.html").replace("/index/", "/")).exists(), page
    api = (site / "api" / "index.html").read_text()
    for name, module in cygen._API.items():
        assert f'id="{module}.{name}"' in api, name
    sample = (site / "cli" / "sample" / "index.html").read_text()
    assert "--points" in sample and "Usage: cygen sample" in sample
    # the tutorials are rendered with their outputs (figures included)
    for nb in TUTORIALS:
        html = (site / "tutorials" / nb.stem / "index.html").read_text()
        assert "data:image/png;base64" in html, nb.name
    # the figures of the docs are published
    assert (site / "figures" / "quintic_eta.png").exists()
    print(f"mkdocs build --strict: {seconds:.1f} s")


SMALL_CONFIG_DROP = ("nav", "hooks", "extra_css")


def small_site(tmp_path: Path, pages: dict[str, str]) -> Path:
    """A site with the project's theme, extensions, validation and mkdocstrings, and
    ``pages``: what the checks below break on purpose."""
    yaml = require("yaml")
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    for key in SMALL_CONFIG_DROP:
        cfg.pop(key, None)
    cfg["plugins"] = [p for p in cfg["plugins"] if not (
        isinstance(p, dict) and "mkdocs-jupyter" in p)]
    for plugin in cfg["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT)]
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in pages.items():
        (docs / name).write_text(text)
    config = tmp_path / "mkdocs.yml"
    config.write_text(yaml.safe_dump(cfg | {"docs_dir": "docs"}, allow_unicode=True))
    return config


GOOD = {
    "index.md": "# Home\n\nSee [the other page](other.md#a-section).\n",
    "other.md": "# Other\n\n## A section\n\n::: cygen.learn.runs.load_run\n",
}


BROKEN = {
    "links": ({"index.md": "# Home\n\nSee [a page](missing.md) and "
                           "[the other page](other.md#no-such-section).\n"},
              ["missing.md", "no-such-section"]),
    "reference": ({"other.md": "# Other\n\n## A section\n\n"
                               "::: cygen.learn.runs.no_such_function\n"},
                  ["no_such_function"]),
}


def test_the_small_site_builds(tmp_path):
    """The site the next test breaks builds when nothing is broken."""
    require("mkdocs")
    require("mkdocstrings_handlers.python")
    good = mkdocs_build(small_site(tmp_path, GOOD), tmp_path / "site")
    assert good.returncode == 0, good.stderr[-3000:]


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_link_or_reference_fails_the_build(tmp_path, kind):
    require("mkdocs")
    require("mkdocstrings_handlers.python")
    pages, messages = BROKEN[kind]
    bad = mkdocs_build(small_site(tmp_path, GOOD | pages), tmp_path / "site")
    assert bad.returncode != 0
    for message in messages:
        assert message in bad.stderr, (message, bad.stderr[-3000:])


# ---------------------------------------------------------------------------------------------
# The tutorials


def test_tutorials_are_committed_executed():
    """The site renders the committed outputs (mkdocs-jupyter, execute: false)."""
    assert {nb.stem for nb in TUTORIALS} == {"quintic", "tian_yau", "moduli"}
    for nb in TUTORIALS:
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        assert cells and all(c.get("execution_count") for c in cells), nb.name
        assert not [o for c in cells for o in c.get("outputs", [])
                    if o.get("output_type") == "error"], nb.name
        assert any("image/png" in o.get("data", {}) for c in cells for o in c["outputs"])


@pytest.mark.slow
@pytest.mark.parametrize("notebook", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes(notebook):
    """Re-execute a tutorial (small sizes) in memory, from its folder (it reads the shipped
    manifolds there and writes only to a temporary directory); any error fails."""
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": str(notebook.parent)}})
    client.execute()
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "Traceback" not in text, text[-2000:]


# ---------------------------------------------------------------------------------------------
# The README


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert ci in blocks, (ci, blocks)
    assert '".[test,docs]"' in ci  # the site's tests run in CI, not skip


def test_readme_links_resolve():
    """The README is not part of the site: its relative links are checked here."""
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, missing
