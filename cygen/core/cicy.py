"""The CICY threefold list shipped with cygen, and lookups in it (no jax, no sympy).

``cygen/data/cicy3.json.gz``: the 7890 configuration matrices of Candelas-Dale-Lutken-
Schimmrigk with Hodge numbers (Green-Hubsch-Lutken), provenance in ``cygen/data/README.md``.
:func:`find` matches a configuration matrix up to the order of its factors and of its
equations, so ``cygen info`` can report the list's h^{1,1}, h^{2,1} beside what the compiler
computed.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

from cygen.core.errors import CygenError
from cygen.core.io import read_bytes, reason

__all__ = ["CICY_LIST", "canonical", "find", "load_list"]

CICY_LIST = Path(__file__).resolve().parents[1] / "data" / "cicy3.json.gz"
MAX_PERMUTATIONS = 40_320  # row orders tried by :func:`canonical` (8!); beyond: no lookup


def load_list(path: str | os.PathLike | None = None) -> list[dict]:
    """The entries of a CICY list file (``{"entries": [...]}`` or a bare list; ``.json`` or
    ``.json.gz``); by default the 7890 CICY threefolds shipped with cygen."""
    path = Path(path) if path is not None else CICY_LIST
    raw = read_bytes(path)
    try:
        text = gzip.decompress(raw) if path.suffix == ".gz" else raw
        data = json.loads(text)
    except (OSError, EOFError, ValueError) as exc:
        raise CygenError(f"not a CICY list: {reason(exc)}", filename=str(path)) from None
    entries = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not all(isinstance(e, dict) and {"id", "ambient",
                                                "matrix"} <= set(e) for e in entries):
        raise CygenError("not a CICY list (entries with id, ambient and matrix)",
                         filename=str(path))
    return entries


def canonical(ambient: Sequence[int], matrix: Sequence[Sequence[int]]) -> tuple | None:
    """A normal form of (ambient, matrix) under reordering factors (rows) and equations
    (columns): the smallest, over row orders that keep the rows' own sorted signatures in
    order, of the rows with the columns sorted.  None when too many row orders tie."""
    rows = [(int(n), tuple(int(x) for x in r)) for n, r in zip(ambient, matrix, strict=True)]
    groups: dict = {}
    for row in rows:
        groups.setdefault((row[0], tuple(sorted(row[1]))), []).append(row)
    keys = sorted(groups)
    if math.prod(math.factorial(len(groups[k])) for k in keys) > MAX_PERMUTATIONS:
        return None
    best = None
    for orders in itertools.product(*(itertools.permutations(groups[k]) for k in keys)):
        ordered = [row for block in orders for row in block]
        columns = sorted(zip(*(r[1] for r in ordered), strict=True))
        form = (tuple(r[0] for r in ordered), tuple(columns))
        best = form if best is None or form < best else best
    return best


def _invariant(ambient: Sequence[int], matrix: Sequence[Sequence[int]]) -> tuple:
    """Cheap invariants under reordering: a filter before :func:`canonical`."""
    return (tuple(sorted(int(n) for n in ambient)),
            tuple(sorted(tuple(sorted(int(x) for x in col)) for col in zip(*matrix, strict=True))),
            tuple(sorted((int(n), tuple(sorted(int(x) for x in r)))
                         for n, r in zip(ambient, matrix, strict=True))))


@functools.cache
def _by_invariant() -> dict:
    out: dict = {}
    for entry in load_list():
        out.setdefault(_invariant(entry["ambient"], entry["matrix"]), []).append(entry)
    return out


def find(ambient: Sequence[int], matrix: Sequence[Sequence[int]]) -> dict | None:
    """The shipped list's entry with this configuration (factors' dimensions ``ambient``,
    ``matrix`` rows = factors, columns = equations) up to reordering, or None (also when
    the configuration has too many equal factors to normalise)."""
    key = canonical(ambient, matrix)
    if key is None:
        return None
    for entry in _by_invariant().get(_invariant(ambient, matrix), []):
        if canonical(entry["ambient"], entry["matrix"]) == key:
            return entry
    return None
