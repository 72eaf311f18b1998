"""Importing generated modules: a ``.py`` as is, a ``.cy`` compiled through the cache.

Before a module file is executed its ``CONTRACT_VERSION`` line is read from the text and
compared with :data:`cygen.core.version.CONTRACT_VERSION`; a module written for another
contract (an older or newer cygen) is refused with a :class:`ContractError` naming both
versions and the fix, instead of failing somewhere inside the runtime.

Loading a compiled module imports jax (the module does); importing this file does not.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType

from cygen.compiler.cache import cache_key, cached_path
from cygen.core.errors import CygenError
from cygen.core.io import atomic_write
from cygen.core.version import CONTRACT_VERSION

__all__ = ["ContractError", "as_module", "check_contract", "contract_version", "load",
           "load_file"]

_CONTRACT = re.compile(r"^CONTRACT_VERSION = (\d+)\s*$", re.M)


class ContractError(CygenError):
    """A generated module of another contract version than this cygen reads."""


def contract_version(code: str) -> int | None:
    """The ``CONTRACT_VERSION`` a generated module's text states (None: none, pre-contract)."""
    match = _CONTRACT.search(code)
    return int(match.group(1)) if match else None


def check_contract(path: Path, code: str, hint: str | None = None) -> None:
    """Raise :class:`ContractError` unless ``code`` states this cygen's contract version."""
    found = contract_version(code)
    if found == CONTRACT_VERSION:
        return
    stated = "no contract version (it predates contracts)" if found is None else \
        f"contract version {found}"
    fix = hint or "recompile it from its .cy source with this cygen (cygen compile X.cy)"
    raise ContractError(f"{path} is a generated module of {stated}, but this cygen reads "
                        f"contract version {CONTRACT_VERSION}: {fix}", filename=str(path))


def load_file(path: str | os.PathLike, hint: str | None = None) -> ModuleType:
    """Import a generated module file after checking its contract version.

    Imported once per content: the same code (a run's copy of a cached module, say) gives
    the same module object, so functions compiled for it are reused."""
    path = Path(path)
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CygenError(f"cannot read {path}: {exc}", filename=str(path)) from None
    digest = hashlib.sha256(code.encode()).hexdigest()[:16]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"cygen_generated_{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    check_contract(path, code, hint)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise CygenError(f"cannot import {path}", filename=str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise CygenError(f"cannot import {path}: {type(exc).__name__}: {exc}",
                         filename=str(path)) from None
    return module


def load(
    path: str | os.PathLike,
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
) -> ModuleType:
    """Import a generated module: a ``.py`` file as is, a ``.cy`` file compiled (cached)."""
    path = Path(path)
    if path.suffix == ".py":
        return load_file(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CygenError(f"cannot read {path}: {exc}", filename=str(path)) from None
    target = cached_path(path, cache_key(source, path, params, allow_non_cy))
    if not target.exists():
        from cygen.compiler.pipeline import compile_source  # sympy: only on a cache miss

        result = compile_source(source, str(path), params, allow_non_cy=allow_non_cy)
        atomic_write(target, result.code)
    return load_file(target)


def as_module(source: object, params: Iterable[str] | Mapping[str, str] | None = None, *,
              allow_non_cy: bool = False) -> ModuleType:
    """A generated module from a loaded module (returned as is) or a ``.cy``/``.py`` path.

    The lower half of the one resolver of "a manifold": :func:`cygen.learn.runs.resolve`
    adds run directories (and trained runs) on top of it."""
    if isinstance(source, ModuleType) and hasattr(source, "GEOMETRY"):
        return source
    if not isinstance(source, str | os.PathLike):
        raise TypeError(f"expected a generated module or a .cy/.py path, not "
                        f"{type(source).__name__}")
    path = Path(source)
    if path.suffix not in (".cy", ".py"):
        raise CygenError(f"{path}: expected a .cy file or a generated module (.py)",
                         filename=str(path))
    return load(path, params, allow_non_cy=allow_non_cy)
