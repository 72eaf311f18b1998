"""cygen: compile Calabi-Yau equations (.cy) into JAX modules; sample, train and study metrics.

The package is layered; each layer imports only the ones above it in this list
(docs/architecture.md, enforced by tests/test_architecture.py):

====================  =========================================================
``cygen.core``        errors, atomic I/O, strict JSON, the progress bar, versions
``cygen.compiler``    ``.cy`` -> generated JAX module (sympy; never jax)
``cygen.geometry``    the JAX runtime: frames, curvature, measures, devices
``cygen.sampling``    exact points with weights
``cygen.learn``       models, losses, the trainer, runs, balanced metrics
``cygen.evaluate``    χ, curvature, evaluation, figures, reports, surveys
``cygen.studies``     the seed's experiments as scripts
``cygen.cli``         the command line
====================  =========================================================

The user-facing API below is imported on first use (PEP 562), so ``import cygen`` and
``cygen --help`` do not load jax.
"""

from __future__ import annotations

import importlib
from typing import Any

from cygen import _compat
from cygen.core.version import CONTRACT_VERSION, __version__

_API = {
    "CompileResult": "cygen.compiler.pipeline",
    "compile_file": "cygen.compiler.pipeline",
    "compile_source": "cygen.compiler.pipeline",
    "load": "cygen.compiler.loader",
    "Dataset": "cygen.sampling.dataset",
    "sample": "cygen.sampling.sampler",
    "train": "cygen.learn.trainer",
    "Run": "cygen.learn.runs",
    "load_run": "cygen.learn.runs",
    "Balanced": "cygen.learn.donaldson",
    "balanced": "cygen.learn.donaldson",
    "euler": "cygen.evaluate.integrals",
    "curvature_summary": "cygen.evaluate.integrals",
    "evaluate_run": "cygen.evaluate.runs",
}
# ``from cygen import runtime`` is how generated modules reach their runtime: a stable name
# that is part of the module contract (CONTRACT_VERSION), not a deprecated path.
_MODULES = {"runtime": "cygen.geometry.runtime"}

__all__ = ["CONTRACT_VERSION", "__version__", *sorted(_API)]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    return _compat.attribute(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API) | set(_MODULES))


_compat.install()
