"""Scripted studies that reproduce the seed's experiments: ``cygen study NAME``.

Each study is a module here with ``run(out, size="full", progress=None) -> dict``: it trains
and evaluates with the public API only, writes ``out/<name>.json`` (the numbers) and PNG
figures next to it, atomically, and returns the JSON content.  ``size="small"`` is the
seconds-long version the slow tests run; ``"full"`` makes the figures in docs/experiments.md.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

STUDIES: dict[str, str] = {
    "torus": "the learned metric on the cubic curve vs the exact flat metric, per patch",
    "k3_ldl": "the seed's LDL network on the Fermat quartic K3: sigma, kappa, mu curves",
    "tian_yau": "Tian-Yau end to end: phi, and ldl shared across charts with the chart as input",
    "activations": "ldl on the K3 with tanh, sigmoid, relu, gelu: loss and Delta_sym curves",
    "ablations": "ldl on the Fermat quintic trained on sigma, kappa or mu alone; all three logged",
    "learning_rates": "phi on the Fermat and Dwork quintics: learning rates x point counts",
    "tian_yau_classes": "Tian-Yau ldl with one network per patch class vs one shared network",
    "donaldson_start": "phi from Donaldson's balanced metric (k = 3) vs from FS, same budget",
    "moduli": "Weil-Petersson metric and Yukawa couplings: Dwork vs exact, seeds, Tian-Yau 23",
    "couplings": "harmonic WP metric vs the metric-free one: FS and balanced k on quintic, P5[3,3]",
    "barefoot": "log-density of sampled quintic points in the z1/z0 plane: Fermat vs Dwork",
    "ricci_flow_torus": "Ricci flow of a perturbed flat torus (FFT): curvature decay vs lambda_1",
    "flow_and_entropy": "Kähler-Ricci flow trainer, Perelman-entropy losses vs sigma: K3, quintic",
}
SIZES = ("small", "full")

__all__ = ["SIZES", "STUDIES", "run"]


def run(name: str, out: str | os.PathLike, size: str = "full",
        progress: Callable[[dict], None] | None = None) -> dict:
    """Run study ``name`` (a key of :data:`STUDIES`) into the directory ``out``."""
    if name not in STUDIES:
        raise ValueError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    module = importlib.import_module(f"cygen.studies.{name}")
    return module.run(Path(out), size, progress)
