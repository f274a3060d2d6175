"""How many cores this process may really use: CPU affinity and the cgroup CPU quota."""

from __future__ import annotations

import math
import os
from pathlib import Path


def usable_cores() -> int:
    """The smaller of the CPUs we may run on and the cgroup quota, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores or 1, max(1, math.floor(quota)))
    return max(1, cores or 1)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max`` or v1 CFS quota), or None when unlimited."""
    v2 = Path("/sys/fs/cgroup/cpu.max")
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
            return None if quota == "max" else int(quota) / int(period)
        v1 = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
        if v1.exists():
            quota_us = int(v1.read_text())
            period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None
    return None
