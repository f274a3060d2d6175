"""Splitting a stream of IDs into batches sized so per-task overhead stays small."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

#: Aim for at least this many tasks per job, so every worker child has work and none straggles.
TARGET_TASKS = 64
#: A batch never grows past this many IDs unless the user asks for it.
DEFAULT_MAX_BATCH = 256


def auto_batch_size(n_ids: int, limit: int) -> int:
    """Batches small enough to spread over many children, large enough to amortise a task."""
    return max(1, min(limit, DEFAULT_MAX_BATCH, math.ceil(n_ids / TARGET_TASKS)))


def chunk(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
