"""How many cores this process may really use: CPU affinity and the cgroup CPU quota.

loky (bundled with joblib, which scikit-learn already brings) reads both, for cgroup v1 and v2,
and also honours ``LOKY_MAX_CPU_COUNT``. A fractional quota is rounded *up*: ``cpu.max`` of
1.5 CPUs gives 2 children, so each gets 0.75 of a core when all are busy, rather than leaving
half a core idle. Set ``MODELFLEET_CONCURRENCY`` to choose the count yourself.
"""

from __future__ import annotations


def usable_cores() -> int:
    """The smallest of the CPUs we may run on, the cgroup quota (rounded up), at least 1."""
    # Imported here: joblib brings numpy, which a producer that never asks need not load.
    from joblib.externals.loky import cpu_count

    return max(1, int(cpu_count()))
