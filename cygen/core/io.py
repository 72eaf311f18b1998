"""Atomic file writes (a temporary file in the target directory, then a rename) and strict JSON."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from cygen.core.errors import CygenError

__all__ = ["atomic_write", "jsonable", "read_bytes", "read_json", "read_text", "reason",
           "write_json"]


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see either the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; use what open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` that strict JSON accepts: NaN and Inf become null, numpy scalars and
    arrays become Python numbers and lists, tuples become lists."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and hasattr(obj, "dtype"):  # numpy scalar or array
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """``obj`` as indented, key-sorted strict JSON (see :func:`jsonable`), written atomically."""
    return atomic_write(path, json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n")


def reason(exc: BaseException) -> str:
    """A short, user-facing account of why a file could not be read."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    if isinstance(exc, NotADirectoryError):
        return "a parent of it is not a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes, or a :class:`CygenError` naming it and why it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CygenError(f"cannot read: {reason(exc)}", filename=str(path)) from None


def read_text(path: str | os.PathLike) -> str:
    """The file's UTF-8 text, or a :class:`CygenError` naming it and why not."""
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CygenError(f"cannot read: {reason(exc)}", filename=str(path)) from None


def read_json(path: str | os.PathLike, kind: type | None = dict) -> Any:
    """The JSON document in ``path`` (of type ``kind`` unless None), or a clean error."""
    text = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CygenError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})",
                         filename=str(path)) from None
    if kind is not None and not isinstance(value, kind):
        raise CygenError(f"expected a JSON {kind.__name__}, found {type(value).__name__}",
                         filename=str(path))
    return value
