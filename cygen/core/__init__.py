"""Layer 0, the base every other layer stands on: pure Python (no jax, no sympy).

User-facing errors (:class:`CygenError`), atomic file writes and strict JSON, the one
progress bar of every long command, the jinja2 environment, and the version numbers.
"""

from cygen.core.errors import CygenError, Span
from cygen.core.io import atomic_write, jsonable, write_json
from cygen.core.version import CONTRACT_VERSION, __version__

__all__ = ["CONTRACT_VERSION", "CygenError", "Span", "__version__", "atomic_write", "jsonable",
           "write_json"]
