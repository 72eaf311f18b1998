"""Atomic writes: readers see the old or the new file, never half of one, with normal modes."""

from __future__ import annotations

import os
import stat

import pytest

from cygen.core.io import atomic_write


def test_atomic_write_replaces_and_uses_the_umask(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    atomic_write(path, "one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]  # no temporary left over


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "file.txt"
    atomic_write(path, "old")
    with pytest.raises(TypeError):
        atomic_write(path, 12345)  # not str or bytes: fails inside the write
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]
