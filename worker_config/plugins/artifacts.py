"""Model files in the cache directory: built once per machine, written atomically under a lock."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock


def build_once(path: Path, build: Callable[[Path], None], timeout: float = 600) -> Path:
    """Return ``path``, first calling ``build(tmp)`` and renaming if the file does not exist.

    Many children on one machine race here; the lock makes one of them build while the others
    wait, and the rename means nobody ever reads a half-written file.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=timeout):
        if path.exists():
            return path
        _write_and_rename(path, build)
    return path


def publish(path: Path, write: Callable[[Path], None], timeout: float = 600) -> Path:
    """Write a new version of ``path`` (``write(tmp)``, then rename), replacing the old one.

    Readers that already mapped the old file keep it (the rename leaves their inode alone); new
    readers see the whole new file, never half of it. The lock serialises concurrent writers.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=timeout):
        _write_and_rename(path, write)
    return path


def _write_and_rename(path: Path, write: Callable[[Path], None]) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:  # the data is on disk before the name points at it
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_version(path: Path) -> str:
    """A short content hash, so results say which model file produced them."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]
