"""The pipeline parse -> analyse -> generate -> format, and loading generated modules."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import sympy as sp

from cygen import syntax as S
from cygen.analyse import analyse
from cygen.errors import CygenError
from cygen.format import format_source
from cygen.generate import TEMPLATE, generate, template_dir
from cygen.io import atomic_write
from cygen.ir import ManifoldIR
from cygen.lower import constant
from cygen.parse import parse


@dataclass(frozen=True)
class CompileResult:
    """Every stage's output: the AST, the IR and the formatted module source."""

    program: S.Program
    ir: ManifoldIR
    code: str


def parse_overrides(items: Iterable[str] | Mapping[str, str] | None) -> dict[str, sp.Expr]:
    """``["psi=0.1+0.2i"]`` (or a mapping) -> ``{"psi": sympy value}``, parsed by the grammar."""
    if items is None:
        return {}
    pairs = items.items() if isinstance(items, Mapping) else (_split(i) for i in items)
    result = {}
    for name, text in pairs:
        label = f"--param {name}={text}"
        try:
            (stmt,) = parse(f"param {name} = {text}\n", label).statements
            result[name] = constant(stmt.value, {})
        except (CygenError, ValueError):
            raise CygenError(f"bad {label}: expected a constant such as 0.1+0.2i") from None
    return result


def _split(item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise CygenError(f"--param expects NAME=VALUE, got {item!r}")
    return name.strip(), value.strip()


def compile_source(
    source: str,
    filename: str = "<input>",
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
) -> CompileResult:
    """Compile ``.cy`` text to a module; raises :class:`CygenError` on bad input."""
    program = parse(source, filename)
    ir = analyse(program, parse_overrides(params), allow_non_cy=allow_non_cy)
    return CompileResult(program, ir, format_source(generate(ir)))


def compile_file(
    path: str | os.PathLike,
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
) -> CompileResult:
    """Compile a ``.cy`` file (its path, as given, is recorded in the module header)."""
    path = Path(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CygenError(f"cannot read {path}: {exc}") from None
    return compile_source(source, str(path), params, allow_non_cy=allow_non_cy)


@cache
def _toolchain_hash() -> str:
    """Hash of the compiler's own sources and template: part of every cache key."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for file in sorted(package.glob("*.py")) + sorted(package.glob("*.lark")):
        digest.update(file.read_bytes())
    digest.update((template_dir() / TEMPLATE).read_bytes())
    return digest.hexdigest()


def cache_dir() -> Path:
    """Where compiled modules are cached: $CYGEN_CACHE_DIR or ~/.cache/cygen."""
    root = os.environ.get("CYGEN_CACHE_DIR") or Path.home() / ".cache" / "cygen"
    return Path(root)


def load(
    path: str | os.PathLike,
    params: Iterable[str] | Mapping[str, str] | None = None,
    *,
    allow_non_cy: bool = False,
) -> ModuleType:
    """Import a generated module: a ``.py`` file as is, a ``.cy`` file compiled (cached)."""
    path = Path(path)
    if path.suffix == ".py":
        return _import(path, f"cygen_generated_{path.stem}")
    source = path.read_text(encoding="utf-8")
    key_items = sorted((params.items() if isinstance(params, Mapping) else params) or [])
    key = hashlib.sha256(
        f"{_toolchain_hash()}\n{path}\n{key_items}\n{allow_non_cy}\n{source}".encode()
    ).hexdigest()[:24]
    target = cache_dir() / f"{path.stem}_{key}.py"
    if not target.exists():
        result = compile_source(source, str(path), params, allow_non_cy=allow_non_cy)
        atomic_write(target, result.code)
    return _import(target, f"cygen_generated_{path.stem}_{key}")


def _import(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover
        raise CygenError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
