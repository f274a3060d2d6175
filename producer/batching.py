"""Splitting IDs into batches sized from the measured cost per item, so per-task overhead stays
a few percent, every worker child gets work, and no batch straggles at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

#: Seconds a task costs beyond its items (worker parent and child, Redis, producer); measured
#: with ``make bench`` (benchmarks/README.md) and rounded up.
TASK_OVERHEAD = 0.002
#: Largest share of a task's time its overhead may take.
OVERHEAD_SHARE = 0.03
#: At least this many tasks per child when there are enough IDs: slower children (a busy
#: machine) then take fewer tasks instead of holding up the end of the job.
TASKS_PER_CHILD = 4
#: A batch is at most about this many seconds of work, so progress and redeliveries stay small.
MAX_TASK_SECONDS = 2.0
#: Batch size when nothing has been measured yet and the job is large.
UNMEASURED_BATCH = 256


def auto_batch_size(
    n_ids: int, limit: int, children: int = 1, per_item: float | None = None
) -> int:
    """The batch size for ``n_ids`` IDs over ``children`` children.

    Large enough that :data:`TASK_OVERHEAD` is at most :data:`OVERHEAD_SHARE` of a task, small
    enough for :data:`TASKS_PER_CHILD` tasks per child; then evened out so the number of tasks
    is a multiple of ``children`` and every batch has the same size, give or take one.
    """
    if n_ids <= 0:
        return 1
    children = max(1, children)
    spread = math.ceil(n_ids / (children * TASKS_PER_CHILD))
    if per_item is None or per_item <= 0:
        size = min(spread, UNMEASURED_BATCH)
    else:
        floor = math.ceil(TASK_OVERHEAD * (1 - OVERHEAD_SHARE) / (OVERHEAD_SHARE * per_item))
        cap = max(1, math.floor(MAX_TASK_SECONDS / per_item))
        size = min(max(floor, spread), cap)
    return max(1, min(size, limit))


def plan_batches(
    ids: Sequence[T],
    limit: int,
    children: int = 1,
    per_item: float | None = None,
    batch_size: int | None = None,
) -> list[list[T]]:
    """``ids`` in batches of :func:`auto_batch_size` (or ``batch_size``), evened out.

    Without ``batch_size`` the number of batches is a multiple of ``children`` (every child gets
    the same number of rounds) and sizes differ by at most one, so no short or long batch
    straggles at the end.
    """
    if batch_size:
        return chunk(ids, min(batch_size, limit))
    size = auto_batch_size(len(ids), limit, children, per_item)
    tasks = math.ceil(len(ids) / size)
    if len(ids) >= children:
        tasks = math.ceil(tasks / children) * children
    return split_even(ids, tasks)


def split_even(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` in ``parts`` consecutive lists whose lengths differ by at most one."""
    parts = max(1, min(parts, len(items)))
    base, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + base + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def chunk(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size``."""
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
