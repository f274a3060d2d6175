"""Leases are scored by the Redis server's clock: workers whose clocks are wrong run no task twice.

The workers run under libfaketime (``LD_PRELOAD``), one 30 s behind and one 30 s ahead, with a
4 s visibility timeout: scored by a worker's own clock, the slow worker's tasks look 30 s old
the moment it takes them, and the fast worker's lease sweep (4 per timeout) sees every task as
lapsed, so each hands running tasks to the other.
"""

from __future__ import annotations

import glob

import pytest

from tests.conftest import WorkerFactory, settings_for
from tests.faults import plugins
from tests.faults.conftest import account, executions, submit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

FAKETIME_LIBS = glob.glob("/usr/lib/*/faketime/libfaketime.so.1")


def skewed(env: dict[str, str], offset: str) -> dict[str, str]:
    """``env`` for a worker whose clock is ``offset`` (e.g. ``-30s``) off.

    libfaketime shifts the monotonic clock too (only its differences matter); leaving it alone
    (``FAKETIME_DONT_FAKE_MONOTONIC``) makes Python's ``time.sleep`` fail with EINVAL.
    """
    return {
        **env,
        "LD_PRELOAD": FAKETIME_LIBS[0],
        "FAKETIME": offset,
    }


@pytest.mark.skipif(not FAKETIME_LIBS, reason="needs libfaketime (apt-get install libfaketime)")
def test_workers_with_clocks_30s_apart_run_no_task_twice(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "MODELFLEET_VISIBILITY_TIMEOUT": "4", "TEST_SLEEP_PER_ITEM": "1.5"}
    settings = settings_for(env)
    worker_factory(concurrency=2, env=skewed(env, "-30s"))
    worker_factory(concurrency=2, env=skewed(env, "+30s"))
    ids = list(range(24))
    items = list(submit(settings, ids, batch_size=1).results(timeout=120))
    outcome = account("worker clocks 30 s behind and ahead, 4 s lease", settings, ids, items)
    assert outcome.lost == 0 and not outcome.errors
    starts = executions(settings, plugins.starts_key(settings))
    assert {i: n for i, n in starts.items() if n > 1} == {}, "tasks ran more than once"
    assert outcome.duplicates == 0
