"""Splitting IDs into batches sized from the fleet's fitted cost curve
(``worker_config/cost_model.py``): big enough for 95% of the asymptotic throughput, small enough
that every child gets several tasks and no task runs long, evened out so no batch straggles at
the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

from worker_config.cost_model import CostFit

T = TypeVar("T")

#: At least this many tasks per child when there are enough IDs: slower children (a busy
#: machine) then take fewer tasks instead of holding up the end of the job. Not more: each task
#: costs the worker and the producer's polling CPU on the same cores, and on a loaded 2-core
#: machine 4 tasks per child ran digits at 0.59x the process pool, 1 per child at 0.97x.
TASKS_PER_CHILD = 2
#: A batch is at most about this many seconds of work, so progress and redeliveries stay small.
MAX_TASK_SECONDS = 2.0
#: Batch size when nothing has been measured yet and the job is large: near the top of the
#: digits curve and past the knee of the forest's (benchmarks); the fit takes over from the
#: next job, as soon as the children have written their first samples.
UNMEASURED_BATCH = 2000
#: Smallest automatic batch when the IDs and the time bound allow it. The children time only
#: the model call; what a task costs elsewhere (worker parent, result storage, Redis, the
#: producer's polling) grows with the machine's load, and on a loaded 2-core machine the fit
#: alone chose 200-ID digits batches at 0.1x the process pool; 20,000 digits IDs ran at 0.85x
#: the best pool in 2,000-ID batches and 0.95x in 5,000 (``make bench``). Larger batches cost
#: only balance, which the tasks-per-child bound keeps, and the seconds-per-task bound holds.
MIN_AUTO_BATCH = 5000


def auto_batch_size(n_ids: int, limit: int, children: int = 1, cost: CostFit | None = None) -> int:
    """The batch size for ``n_ids`` IDs over ``children`` children.

    The smallest size reaching 95% of the fitted asymptotic throughput (at least
    :data:`MIN_AUTO_BATCH`), then at most enough
    for :data:`TASKS_PER_CHILD` tasks per child, at most :data:`MAX_TASK_SECONDS` of work, and
    at most ``limit`` (``MODELFLEET_MAX_BATCH``).
    """
    if n_ids <= 0:
        return 1
    children = max(1, children)
    spread = math.ceil(n_ids / (children * TASKS_PER_CHILD))
    if cost is None:
        size = min(spread, UNMEASURED_BATCH)
    else:
        wanted = max(cost.size_for_share(), MIN_AUTO_BATCH)
        size = min(wanted, spread, cost.largest_within(MAX_TASK_SECONDS))
    return max(1, min(size, limit))


def plan_batches(
    ids: Sequence[T],
    limit: int,
    children: int = 1,
    cost: CostFit | None = None,
    batch_size: int | None = None,
) -> list[list[T]]:
    """``ids`` in batches of :func:`auto_batch_size` (or ``batch_size``), evened out.

    Without ``batch_size`` the number of batches is a multiple of ``children`` (every child gets
    the same number of rounds) and sizes differ by at most one, so no short or long batch
    straggles at the end.
    """
    if batch_size:
        return chunk(ids, min(batch_size, limit))
    size = auto_batch_size(len(ids), limit, children, cost)
    tasks = math.ceil(len(ids) / size)
    if len(ids) >= children:
        tasks = math.ceil(tasks / children) * children
        if tasks > len(ids):  # one-ID batches: round down instead, to batches of 1 and 2
            tasks = len(ids) // children * children
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
