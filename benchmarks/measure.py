"""One measured run of one configuration: throughput, CPU per item of each side, latencies."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import procstat

#: A configuration's body: takes the IDs, returns result items in order and the time each
#: item reached the producer (``time.perf_counter``).
Body = Callable[[list[int]], tuple[list[dict[str, Any]], list[float]]]


@dataclass
class Sides:
    """Where the CPU goes: PIDs of the worker processes and of Redis (None: not involved)."""

    worker_pids: Callable[[], list[int]] = list
    redis_pid: int | None = None
    #: Worker processes are this process's children that exit inside the body (a pool).
    reaped_workers: bool = False


@dataclass
class Row:
    workload: str
    config: str
    group: str
    n: int
    seconds: float
    per_second: float
    producer_ms: float
    redis_ms: float
    worker_ms: float
    p50_ms: float
    p99_ms: float
    ok: bool
    runs: list[float] = field(default_factory=list)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    *,
    workload: str,
    config: str,
    group: str,
    ids: list[int],
    body: Body,
    sides: Sides,
    check: Callable[[list[int], list[dict[str, Any]]], bool],
    repeats: int,
) -> Row:
    """Run ``body`` ``repeats`` times; the row has the median run's figures."""
    runs: list[Row] = []
    for _ in range(repeats):
        workers = sides.worker_pids()
        cpu0 = (
            procstat.self_cpu(),
            procstat.cpu_seconds(sides.redis_pid) if sides.redis_pid else 0.0,
            sum(procstat.cpu_seconds(p) for p in workers),
            procstat.reaped_children_cpu(),
        )
        start = time.perf_counter()
        items, done_at = body(ids)
        seconds = time.perf_counter() - start
        cpu1 = (
            procstat.self_cpu(),
            procstat.cpu_seconds(sides.redis_pid) if sides.redis_pid else 0.0,
            sum(procstat.cpu_seconds(p) for p in workers),
            procstat.reaped_children_cpu(),
        )
        worker_cpu = cpu1[2] - cpu0[2]
        if sides.reaped_workers:
            worker_cpu += cpu1[3] - cpu0[3]
        n = len(ids)
        latencies = [(t - start) * 1000 for t in done_at]
        runs.append(
            Row(
                workload=workload,
                config=config,
                group=group,
                n=n,
                seconds=seconds,
                per_second=n / seconds,
                producer_ms=(cpu1[0] - cpu0[0]) * 1000 / n,
                redis_ms=(cpu1[1] - cpu0[1]) * 1000 / n,
                worker_ms=worker_cpu * 1000 / n,
                p50_ms=percentile(latencies, 0.5),
                p99_ms=percentile(latencies, 0.99),
                ok=check(ids, items),
            )
        )
    runs.sort(key=lambda r: r.per_second)
    median = runs[len(runs) // 2]
    median.runs = [round(r.per_second, 1) for r in runs]
    median.ok = all(r.ok for r in runs)
    return median


def summarise(latencies_ms: list[float]) -> tuple[float, float]:
    """p50 and p99 of a list of latencies."""
    return statistics.median(latencies_ms), percentile(latencies_ms, 0.99)
