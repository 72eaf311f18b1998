"""Figures and the HTML report: every command writes a PNG with real content (size, pixel
variance, colours), the report is valid HTML with every image embedded, and it opens in a
real (headless Chromium) browser (slow)."""

from __future__ import annotations

import base64
import html.parser
import io
import json
import shutil
import subprocess

import numpy as np
import pytest
from conftest import ROOT, compiled
from matplotlib.image import imread
from typer.testing import CliRunner

from cygen.cli import app
from cygen.evaluate import plots
from cygen.geometry.measure import sigma
from cygen.learn.trainer import train
from cygen.sampling.sampler import sample

runner = CliRunner()
TORUS = ROOT / "manifolds" / "torus.cy"
CONFIG = {
    "model": {"widths": [8, 8], "activation": "gelu"},
    "steps_per_call": 10,
    "eval": {"kahler_points": 0, "ricci_points": 0},
}
ALL = 5000  # more than the run's validation points: all of them (compiled functions shared)


def assert_real_png(source, min_size: tuple[int, int] = (250, 300)) -> np.ndarray:
    """A PNG (path or bytes) of a sane size whose pixels vary: not blank, not one colour."""
    image = imread(io.BytesIO(source) if isinstance(source, bytes) else source, format="png")
    h, w = image.shape[:2]
    assert h >= min_size[0] and w >= min_size[1], image.shape
    assert h <= 4000 and w <= 6000, image.shape
    rgb = image[..., :3]
    assert float(rgb.std()) > 0.05, "the image is (nearly) uniform"
    colours = np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20, f"only {len(colours)} colours"
    return image


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny trained torus run (phi 8x8, 2400 points, 2 epochs)."""
    module = compiled(TORUS)[1]
    base = tmp_path_factory.mktemp("plots")
    data = base / "torus.npz"
    sample(module, 2400, seed=5).save(data)
    run = base / "torus"
    train(module, run, data=data, epochs=2, config=CONFIG)
    return run


def invoke(*args: str) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_plot_points(run_dir, tmp_path):
    data = run_dir.parent / "torus.npz"
    invoke("plot", "points", data, "-o", tmp_path / "points.png")
    image = assert_real_png(tmp_path / "points.png")
    assert image.shape[1] > 1.5 * image.shape[0], "a curve gets the chart panel too"
    invoke("plot", "points", run_dir, "-o", tmp_path / "w.png", "--coord", "2", "--over", "0",
           "--weighted", "--bins", "40")
    assert_real_png(tmp_path / "w.png")
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_plot_points_bad_input(run_dir, tmp_path):
    data = run_dir.parent / "torus.npz"
    result = runner.invoke(app, ["plot", "points", str(data), "-o", str(tmp_path / "x.png"),
                                 "--coord", "7"])
    assert result.exit_code == 2 and "out of range" in result.output
    result = runner.invoke(app, ["plot", "points", str(tmp_path / "missing.npz")])
    assert result.exit_code == 2 and "no such file" in result.output
    result = runner.invoke(app, ["plot", "eta", str(tmp_path), "-o", str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "not a run directory" in result.output
    assert not (tmp_path / "x.png").exists()


def test_plot_training(run_dir, tmp_path):
    invoke("plot", "training", run_dir, "-o", tmp_path / "training.png")
    assert_real_png(tmp_path / "training.png")


def test_plot_eta_matches_the_run_sigma(run_dir, tmp_path):
    from cygen.learn.runs import load_run

    run = load_run(run_dir)
    d = plots.eta_data(run, ALL)  # all validation points: exactly what training measured
    assert len(d.weights) == run.metrics["n_val"]
    assert sigma(d.weights, d.eta_fs) == pytest.approx(run.metrics["sigma_fs"], rel=1e-9)
    assert sigma(d.weights, d.eta) == pytest.approx(run.metrics["sigma"], rel=1e-6)
    invoke("plot", "eta", run_dir, "-o", tmp_path / "eta.png", "-n", ALL)
    assert_real_png(tmp_path / "eta.png")


@pytest.mark.slow  # the report (default suite) draws the same figure through the same code
def test_plot_curvature(run_dir, tmp_path):
    invoke("plot", "curvature", run_dir, "-o", tmp_path / "curvature.png", "-n", ALL)
    assert_real_png(tmp_path / "curvature.png")


class _Parser(html.parser.HTMLParser):
    """Collects tags and images; checks that every non-void element is closed in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[dict] = []
        self.tags: list[str] = []
        self.doctype = None
        self.text: list[str] = []

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def check_html(text: str) -> _Parser:
    parser = _Parser()
    parser.feed(text)
    parser.close()
    assert parser.doctype and parser.doctype.lower() == "doctype html"
    assert not parser.stack, f"unclosed: {parser.stack}"
    for tag in ("html", "head", "title", "body", "table"):
        assert tag in parser.tags
    for img in parser.images:
        src = img.get("src", "")
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert img.get("alt")
        assert_real_png(base64.b64decode(src.split(",", 1)[1], validate=True))
    return parser


@pytest.fixture(scope="module")
def report_html(run_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    # 2400 fresh points for chi: the fixture's sample size, so the sampler is compiled already
    invoke("report", run_dir, "-o", path, "-n", ALL, "--euler-points", "2400")
    return path


def test_report_is_self_contained_html(report_html, run_dir):
    text = report_html.read_text(encoding="utf-8")
    parser = check_html(text)
    assert len(parser.images) == 4
    assert "http://" not in text and "https://" not in text and "<script" not in text
    body = " ".join(parser.text)
    for needle in ("Topological checks", "χ (learned metric)", "volume ∫Jⁿ/n!", "sigma_fs",
                   "optimizer.lr", "agrees"):
        assert needle in body, needle
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert f"{metrics['sigma']:.6g}" in body


def test_patch_classes_from_spec():
    assert plots.chart_groups({}) is None
    assert plots.chart_groups({"patch_classes": [[0, 2], [1]]}) == [[0, 2], [1]]
    assert plots.chart_groups({"patch_class_of_chart": [1, 0, 1]}) == [[1], [0, 2]]
    assert plots.chart_groups({"patch_classes": "nonsense"}) is None


def test_eta_figure_per_class_and_sigma_groups():
    rng = np.random.default_rng(0)
    n, charts = 4000, 6
    w = rng.uniform(0.5, 2, n)
    chart = rng.integers(0, charts, n)
    eta_fs = rng.lognormal(0, 0.3, n)
    eta = rng.lognormal(0, 0.05, n)
    per = plots.sigma_groups(w, eta, chart, charts)
    weight = np.bincount(chart, w, minlength=charts)
    assert np.sum(per * weight) / np.sum(weight) == pytest.approx(sigma(w, eta), rel=1e-12)
    for classes in ([[0, 1, 2], [3, 4, 5]], None):
        d = plots.EtaData(w, eta_fs, eta, chart, charts, classes, "synthetic")
        assert_real_png(plots.png_bytes(plots.eta_figure(d), dpi=40), min_size=(150, 500))


def test_training_figure_tolerates_zero_and_missing_terms():
    log = [{"epoch": 1, "train": {"sigma": 0.3, "kahler": 0.0, "volume": None},
            "val": {"sigma": 0.2}},
           {"epoch": 2, "train": {"sigma": 0.1, "kahler": 0.0, "volume": 1e-3},
            "val": {"sigma": 0.09, "transition": 1e-17}}]
    fig = plots.training_figure(log, {"sigma_fs": 0.4})
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 4
    assert_real_png(plots.png_bytes(fig, dpi=50), min_size=(150, 300))


def test_training_figure_labels_terms_trained_as_powers():
    """With loss_power, the training curve of κ is mean κ², not the norm validation reports:
    the legend must say so, and only for that term."""
    log = [{"epoch": e, "train": {"sigma": 0.1 / e, "kahler": 0.03 / e},
            "val": {"sigma": 0.1 / e, "kahler": 0.2 / e}} for e in (1, 2)]
    fig = plots.training_figure(log, None, powers={"kahler": 2})
    labels = {ax.get_title(): [t.get_text() for t in ax.get_legend().get_texts()]
              for ax in fig.axes if ax.get_visible()}
    assert labels[plots.TERMS["sigma"]] == ["train", "val"]
    assert labels[plots.TERMS["kahler"]] == ["train (mean |r|^2, as trained)", "val"]


def test_no_pyplot():
    """Figures never go through pyplot (no global state, no display): Figure + Agg only."""
    for name in ("evaluate/plots.py", "evaluate/report.py", "cli/plot.py"):
        source = (ROOT / "cygen" / name).read_text(encoding="utf-8")
        assert "pyplot" not in source.replace("never through ``pyplot``", ""), name


@pytest.mark.slow
def test_report_opens_in_headless_chromium(report_html, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,2000", report_html.as_uri()],
        check=True, capture_output=True, timeout=120,
    )
    image = assert_real_png(shot, min_size=(1500, 1000))
    assert image.shape[:2] == (2000, 1200)
    # the embedded figures were decoded and drawn: a dark histogram panel lies somewhere
    assert float((image[..., :3].mean(axis=2) < 0.15).mean()) > 0.01
