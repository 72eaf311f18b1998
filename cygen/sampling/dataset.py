"""Point datasets: in memory (``Dataset``) and streamed to ``.npz`` (``NpzWriter``).

An ``.npz`` holds ``points`` (n, N) complex128 (normalised), ``weights``,
``omega_sq`` (float64), ``chart`` (int32) and ``metadata`` (a JSON string:
source hash, parameters, seed, measure, slice types).  Files are written to a
temporary name and renamed, so a reader never sees a partial file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cygen.core.errors import CygenError
from cygen.core.io import reason

FIELDS = {"points": np.complex128, "weights": np.float64, "omega_sq": np.float64,
          "chart": np.int32}


@dataclass(frozen=True)
class Dataset:
    """Sampled points with their Monte-Carlo weights: ``mean(w f)`` ≈ ∫_X f Ω∧Ω̄.

    What ``cygen.sample`` returns and ``cygen sample`` writes (``.npz``, with every
    array checksummed and the manifold's identity in the metadata).

    Attributes
    ----------
    points : numpy.ndarray
        (n, N) complex128, normalised homogeneous coordinates (all factors concatenated).
    weights : numpy.ndarray
        (n,) float64: |Ω|² divided by the density the point was sampled from.
    omega_sq : numpy.ndarray
        (n,) float64: |Ω|² in the point's chart.
    chart : numpy.ndarray
        (n,) int32: the chart ``select_chart`` picks.
    metadata : dict
        The manifold's identity (name, source hash, parameters, Kähler moduli), the seed,
        the measure, the slice types and the sampling summary.

    Examples
    --------
    >>> import os, tempfile, numpy as np, cygen
    >>> data = cygen.sample("manifolds/torus.cy", 100)
    >>> path = data.save(os.path.join(tempfile.mkdtemp(), "torus.npz"))
    >>> again = cygen.Dataset.load(path)
    >>> bool(np.array_equal(again.points, data.points)), again.metadata["name"]
    (True, 'torus')
    >>> len(data.subset(slice(0, 10)))
    10
    """

    points: np.ndarray
    weights: np.ndarray
    omega_sq: np.ndarray
    chart: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.weights)

    def rows(self, index: np.ndarray) -> Dataset:
        """The points at ``index`` as lazy ``Rows`` views: nothing is read until a
        consumer indexes them (chunk by chunk, e.g. ``cygen.learn.losses.prepare``)."""
        return Dataset(*(Rows(getattr(self, name), index) for name in FIELDS),
                       metadata=self.metadata)

    def subset(self, index) -> Dataset:
        """The points at ``index`` (a slice or an index array), with the same metadata."""
        return Dataset(self.points[index], self.weights[index], self.omega_sq[index],
                       self.chart[index], self.metadata)

    def save(self, path: str | os.PathLike) -> Path:
        """Write an ``.npz`` atomically (a reader never sees a partial file).

        Parameters
        ----------
        path : str or os.PathLike
            The file to write.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        with NpzWriter(path, len(self), self.points.shape[1]) as writer:
            writer.write({name: getattr(self, name) for name in FIELDS})
            writer.metadata = self.metadata
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike, mmap: bool = False) -> Dataset:
        """Read an ``.npz`` written by ``save`` or ``cygen sample``.

        Parameters
        ----------
        path : str or os.PathLike
            The file.
        mmap : bool, optional
            Map the (uncompressed) arrays read-only instead of reading them, so a dataset
            larger than memory is paged in as it is used.

        Returns
        -------
        Dataset
            The points; a missing, truncated or corrupt file is a ``CygenError`` naming it.
        """
        path = Path(path)
        try:
            mapped = _mmap_npz(path) if mmap else None
            if mapped is None:
                with np.load(path, allow_pickle=False) as data:
                    mapped = {name: np.asarray(data[f"{name}"]) for name in FIELDS}
                    if "metadata" in data:
                        mapped["metadata"] = json.loads(str(data["metadata"]))
        except CygenError:
            raise
        except KeyError as exc:
            raise CygenError(f"not a cygen point set: an array is missing ({exc.args[0]})",
                             filename=str(path)) from None
        except json.JSONDecodeError:
            raise CygenError("its metadata is not valid JSON", filename=str(path)) from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CygenError(f"cannot read a point set: {reason(exc)}",
                             filename=str(path)) from None
        meta = mapped.pop("metadata", {})
        _check_fields(mapped, meta, path)
        return cls(*(mapped[name] for name in FIELDS), metadata=meta)


def recorded_identity(meta: dict) -> dict | None:
    """The manifold identity a point set's metadata records (``identity``; point sets of
    cygen 0.1 recorded its fields at the top level), or None."""
    if isinstance(meta.get("identity"), dict):
        return meta["identity"]
    if "source_hash" in meta:
        return {"name": meta.get("name"), "source_hash": meta["source_hash"],
                "params": meta.get("params"), "kahler": meta.get("kahler")}
    return None


def fingerprints(points: np.ndarray) -> set[bytes]:
    """One exact fingerprint per point (its normalised coordinates' bytes): equal points of
    the sampler have equal bytes, so a set intersection finds shared points."""
    rows = np.ascontiguousarray(np.asarray(points, np.complex128))
    return {row.tobytes() for row in rows}


def _check_fields(arrays: dict, meta, path: Path) -> None:
    """Refuse arrays of the wrong kind or length (a cygen point set has FIELDS, all n long,
    points (n, N) complex), and metadata that is not a JSON object."""
    n = len(arrays["weights"])
    for name, dtype in FIELDS.items():
        a = arrays[name]
        if a.dtype != np.dtype(dtype) or a.ndim != (2 if name == "points" else 1) \
                or len(a) != n:
            raise CygenError(f"not a cygen point set: {name!r} is {a.dtype} {a.shape}, "
                             f"expected {np.dtype(dtype)} with {n} rows", filename=str(path))
    if n == 0:
        raise CygenError("holds no points", filename=str(path))
    if not isinstance(meta, dict):
        raise CygenError("its metadata is not a JSON object", filename=str(path))


def _mmap_npz(path: Path) -> dict | None:
    """The fields of an ``.npz`` as read-only memory maps (``None`` if a member is
    compressed: then it must be read).  ``NpzWriter`` stores members uncompressed."""
    out: dict = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for name in FIELDS:
            info = zf.getinfo(f"{name}.npy")
            if info.compress_type != zipfile.ZIP_STORED:
                return None
            fh.seek(info.header_offset)
            local = fh.read(30)  # local file header: name and extra lengths at 26..30
            start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") \
                + int.from_bytes(local[28:30], "little")
            _check_crc(fh, start, info)
            fh.seek(start)
            version = np.lib.format.read_magic(fh)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                    else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read(fh)
            out[name] = np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                                  order="F" if fortran else "C")
        if "metadata.npy" in zf.namelist():
            with zf.open("metadata.npy") as member:
                out["metadata"] = json.loads(str(np.lib.format.read_array(member)))
    return out


def _check_crc(fh, start: int, info: zipfile.ZipInfo, block: int = 1 << 24) -> None:
    """Verify a stored member's CRC-32 (one sequential pass, in blocks: a memory map is
    never checked by zipfile, and a damaged point set must not be trained on)."""
    fh.seek(start)
    crc, left = 0, info.compress_size
    while left > 0:
        chunk = fh.read(min(block, left))
        if not chunk:
            break
        crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    if left or crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")


class Rows:
    """``array[index]`` without materialising it: ``Rows(a, index)[i] == a[index[i]]``.

    Lets chunked consumers (``losses.prepare``) read a subset of a memory-mapped dataset
    chunk by chunk."""

    def __init__(self, array, index: np.ndarray) -> None:
        self.array, self.index = array, np.asarray(index)
        self.shape = (len(self.index), *array.shape[1:])

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i):
        idx = self.index[i]
        order = np.argsort(idx, kind="stable")  # sequential reads from the map
        out = np.asarray(self.array[idx[order]])
        result = np.empty_like(out)
        result[order] = out
        return result


class NpzWriter:
    """Streams chunks of a known total length into an ``.npz`` without holding it all.

    Each field goes to a memory-mapped ``.npy`` in a temporary directory beside the
    target; on success the members are zipped into ``<target>.tmp`` and renamed.
    """

    def __init__(self, path: str | os.PathLike, n: int, n_ambient: int) -> None:
        self.path = Path(path)
        self.n = n
        self.filled = 0
        self.metadata: dict = {}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._dir = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        except OSError as exc:
            raise CygenError(f"cannot write {self.path}: {exc}") from None
        shapes = {"points": (n, n_ambient)}
        self._arrays = {
            name: np.lib.format.open_memmap(self._dir / f"{name}.npy", mode="w+", dtype=dtype,
                                            shape=shapes.get(name, (n,)))
            for name, dtype in FIELDS.items()
        }

    def write(self, chunk: dict[str, np.ndarray]) -> int:
        """Append up to the remaining length from ``chunk``; returns how many were taken."""
        take = min(self.n - self.filled, len(chunk["weights"]))
        for name, array in self._arrays.items():
            array[self.filled : self.filled + take] = chunk[name][:take]
        self.filled += take
        return take

    def __enter__(self) -> NpzWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _finish(self) -> None:
        if self.filled != self.n:
            raise CygenError(f"internal error: wrote {self.filled} of {self.n} points")
        for array in self._arrays.values():
            array.flush()
        tmp = self._dir / "out.npz"
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name in FIELDS:
                zf.write(self._dir / f"{name}.npy", f"{name}.npy")
            with zf.open("metadata.npy", "w") as fh:
                np.lib.format.write_array(fh, np.asarray(json.dumps(self.metadata, sort_keys=True)))
        os.replace(tmp, self.path)


class NullWriter:
    """A stand-in for ``cygen.dataset.NpzWriter`` on non-primary processes: takes
    chunks and writes nothing (process 0 writes the file)."""

    metadata: dict

    def __init__(self, *args, **kwargs) -> None:
        self.metadata = {}

    def write(self, chunk) -> int:
        return len(chunk["weights"])

    def __enter__(self) -> NullWriter:
        return self

    def __exit__(self, *exc) -> None:
        return None
