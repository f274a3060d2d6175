"""Weights mapped read-only from files, so all children on a machine share one page-cache copy.

A child that ``np.load``s a 500 MB array holds 500 MB of private memory; eight children hold
4 GB. A child that maps the file holds nothing of its own: the kernel keeps one copy of each page
in its page cache and every mapping points at it. ``.npy`` and safetensors files both keep their
arrays as raw bytes at a known offset, so mapping them needs no parsing beyond the header.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from worker_config.plugins.artifacts import publish

#: safetensors dtype names and the numpy dtypes they map to.
SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def load_npy(path: Path, mapped: bool = True) -> np.ndarray[Any, Any]:
    """The array in ``path``: mapped read-only (shared), or a private copy when not ``mapped``."""
    array: np.ndarray[Any, Any] = np.load(path, mmap_mode="r" if mapped else None)
    return array


def save_npy(path: Path, array: np.ndarray[Any, Any]) -> Path:
    """Write ``array`` to ``path`` atomically under a lock, replacing any earlier version."""

    def write(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, array, allow_pickle=False)

    return publish(path, write)


def map_safetensors(path: Path, writable: bool = False) -> dict[str, np.ndarray[Any, Any]]:
    """Every tensor of a safetensors file as an array viewing one shared mapping of the file.

    ``writable=True`` maps copy-on-write: still shared until someone writes, and a write then
    copies one page privately instead of faulting. Libraries that refuse read-only arrays
    (PyTorch warns on them) get that mode.
    """
    with path.open("rb") as handle:
        (header_len,) = struct.unpack("<Q", handle.read(8))
        header: dict[str, Any] = json.loads(handle.read(header_len))
    data = np.memmap(path, dtype=np.uint8, mode="c" if writable else "r", offset=8 + header_len)
    arrays = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        arrays[name] = data[start:end].view(dtype).reshape(info["shape"])
    return arrays


def array_version(array: np.ndarray[Any, Any]) -> str:
    """A short hash of the array's bytes: the content actually mapped, whatever the path says."""
    digest = hashlib.sha256()
    flat = array.reshape(-1).view(np.uint8)
    step = 1 << 24
    for start in range(0, flat.size, step):
        digest.update(flat[start : start + step].data)  # a view: no 16 MB copies to keep around
    return digest.hexdigest()[:12]


def mapping_kib(pid: int, path: Path) -> dict[str, int]:
    """Rss and Pss (KiB) of ``pid``'s mappings of ``path``, from ``/proc/<pid>/smaps``."""
    totals = {"Rss": 0, "Pss": 0}
    target = str(path.resolve())
    inside = False
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            first = line.split(maxsplit=1)[0]
            if not first.endswith(":"):  # a mapping's header line: "addr-addr perms ... path"
                inside = line.rstrip("\n").endswith(target)
            elif inside and first[:-1] in totals:
                totals[first[:-1]] += int(line.split()[1])
    return totals
