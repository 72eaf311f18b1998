"""Deprecated import paths of cygen 0.1's flat layout, kept for one release (as Optax does).

``import cygen.runs``, ``from cygen.euler import euler``, ``cygen.measure.sigma`` ... still
work: a meta-path finder serves each old module name as a thin proxy that forwards every
attribute to the module(s) that now own it and warns once, with a :class:`DeprecationWarning`
naming the new path, when the old module is imported.  ``cygen.runtime`` is no deprecated
path but the name generated modules import (the module contract): it is served silently.

Old names that are also functions of the new top-level API (``cygen.train``, ``cygen.euler``)
stay callable after their old module has been imported, so both spellings keep working.

This is the root package's helper (the top of the layer order): it may reach every layer.
It is removed in cygen 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

__all__ = ["ALIASES", "attribute", "install"]

# old module -> (new modules searched in order, {old attribute: (module, new attribute)})
ALIASES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, str]]]] = {
    "cygen.errors": (("cygen.core.errors",), {}),
    "cygen.io": (("cygen.core.io",), {}),
    "cygen.runtime": (("cygen.geometry.runtime",), {}),
    "cygen.implicit": (("cygen.geometry.implicit",), {}),
    "cygen.curvature": (("cygen.geometry.curvature", "cygen.learn.jets"), {}),
    "cygen.measure": (("cygen.geometry.measure",), {}),
    "cygen.scale": (("cygen.geometry.scale",), {}),
    "cygen.roots": (("cygen.sampling.roots",), {}),
    "cygen.homotopy": (("cygen.sampling.homotopy",), {}),
    "cygen.dataset": (("cygen.sampling.dataset",), {}),
    "cygen.models": (("cygen.learn.models", "cygen.learn.networks", "cygen.geometry.local"),
                     {"DEFAULTS": ("cygen.learn.models", "MODEL_DEFAULTS")}),
    "cygen.losses": (("cygen.learn.losses",), {}),
    "cygen.runs": (("cygen.learn.runs", "cygen.learn.config", "cygen.learn.checkpoint",
                    "cygen.core.io"),
                   {"DEFAULTS": ("cygen.learn.config", "CONFIG_DEFAULTS")}),
    "cygen.train": (("cygen.learn.trainer", "cygen.learn.step", "cygen.learn.optim",
                     "cygen.learn.evaluation", "cygen.learn.runs"),
                    {"evaluate": ("cygen.evaluate.runs", "evaluate_run")}),
    "cygen.donaldson": (("cygen.learn.donaldson", "cygen.learn.potentials"),
                        {"table": ("cygen.evaluate.donaldson", "table")}),
    "cygen.sections": (("cygen.compiler.analysis.sections",), {}),
    "cygen.topology": (("cygen.compiler.analysis.topology",), {}),
    "cygen.euler": (("cygen.evaluate.integrals",), {}),
    "cygen.plots": (("cygen.evaluate.plots",), {}),
    "cygen.report": (("cygen.evaluate.report",), {}),
    "cygen.survey": (("cygen.evaluate.survey",), {}),
}
SILENT = {"cygen.runtime"}
CALLABLE = {"cygen.train": ("cygen.learn.trainer", "train"),
            "cygen.euler": ("cygen.evaluate.integrals", "euler")}


class _Alias(types.ModuleType):
    """A deprecated module path: attributes are looked up in the modules that own them now."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__targets, self.__renames = ALIASES[name]

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in self.__renames:
            module, new = self.__renames[attr]
            return getattr(importlib.import_module(module), new)
        for target in self.__targets:
            module = importlib.import_module(target)
            if hasattr(module, attr):
                return getattr(module, attr)
        raise AttributeError(f"module {self.__name__!r} (now {self.__targets[0]!r}) has no "
                             f"attribute {attr!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.__name__ not in CALLABLE:
            raise TypeError(f"module {self.__name__!r} is not callable")
        module, name = CALLABLE[self.__name__]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    def __dir__(self) -> list[str]:
        names: set[str] = set(self.__renames)
        for target in self.__targets:
            names |= set(dir(importlib.import_module(target)))
        return sorted(names)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        if spec.name not in SILENT:
            warnings.warn(f"{spec.name} is deprecated and will be removed in cygen 0.3; import "
                          f"from {ALIASES[spec.name][0][0]} instead (docs/architecture.md)",
                          DeprecationWarning, stacklevel=_stacklevel())
        return _Alias(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname in ALIASES:
            return importlib.machinery.ModuleSpec(fullname, _Loader())
        return None


def _stacklevel() -> int:
    """The warning's stack level: the first frame outside the import machinery."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (frame.f_code.co_filename.startswith("<frozen importlib")
                                 or frame.f_code.co_filename == __file__):
        frame, level = frame.f_back, level + 1
    return level


def install() -> None:
    """Register the finder (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())


def attribute(name: str) -> Any:
    """``cygen.<old module>`` as an attribute (e.g. ``cygen.measure.sigma`` after a plain
    ``import cygen``): imports the deprecated alias (warning once)."""
    full = f"cygen.{name}"
    if full in ALIASES:
        return importlib.import_module(full)
    raise AttributeError(f"module 'cygen' has no attribute {name!r}")
