"""Time limits, child recycling and task leases: hung tasks end, long tasks run once."""

from __future__ import annotations

import time

import pytest

from producer.status import child_loads
from tests.conftest import WorkerFactory, settings_for
from tests.faults import plugins
from tests.faults.conftest import account, executions, submit

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_hard_time_limit_ends_a_hung_task_with_time_limit_items_and_replaces_the_child(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_HANG_IDS": "5", "MODELFLEET_TASK_TIME_LIMIT": "3"}
    settings = settings_for(env)
    worker = worker_factory(concurrency=1, env=env)
    ids = list(range(30))
    items = list(submit(settings, ids, batch_size=10).results(timeout=120))
    outcome = account("hung task, hard time limit", settings, ids, items)
    assert outcome.errors == {"TimeLimitExceeded": 10}  # the hung batch, item by item
    assert all("error" in item for item in items[:10]) and all("output" in i for i in items[10:])
    worker.wait_ready(settings, children=2, timeout=60)
    loads = child_loads(settings, worker.hostname)
    assert len(loads) == 2 and {c.loads for c in loads.values()} == {1}  # replaced, loaded once


def test_soft_time_limit_gives_time_limit_items_without_killing_the_child(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {
        **fault_env,
        "TEST_HANG_IDS": "5",
        "MODELFLEET_TASK_SOFT_TIME_LIMIT": "2",
        "MODELFLEET_TASK_TIME_LIMIT": "30",
    }
    settings = settings_for(env)
    worker = worker_factory(concurrency=1, env=env)
    ids = list(range(20))
    items = list(submit(settings, ids, batch_size=10).results(timeout=60))
    outcome = account("hung task, soft time limit", settings, ids, items)
    assert outcome.errors == {"TimeLimitExceeded": 10}
    assert "MODELFLEET_TASK_SOFT_TIME_LIMIT" in items[5]["error"]["message"]
    assert len(child_loads(settings, worker.hostname)) == 1


def test_recycled_children_each_load_the_model_once_and_lose_nothing(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "MODELFLEET_MAX_TASKS_PER_CHILD": "5"}
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    ids = list(range(300))
    items = list(submit(settings, ids, batch_size=10).results(timeout=120))
    outcome = account("child recycling every 5 tasks", settings, ids, items)
    assert outcome.lost == 0 and not outcome.errors and outcome.duplicates == 0
    loads = child_loads(settings, worker.hostname)
    assert len(loads) >= 30 // 5 and {c.loads for c in loads.values()} == {1}


def test_a_task_longer_than_the_visibility_timeout_is_not_delivered_twice(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    # A 2 s lease and a 9 s task: without renewal, kombu's sweep (every 1 s here) hands the
    # task to the idle second worker after ~2 s and it runs twice (celery#5935, kombu#337).
    env = {**fault_env, "MODELFLEET_VISIBILITY_TIMEOUT": "2", "TEST_SLEEP_PER_ITEM": "9"}
    settings = settings_for(env)
    worker_factory(concurrency=1, env=env)
    worker_factory(concurrency=1, env=env)
    items = list(submit(settings, [42], batch_size=1).results(timeout=60))
    outcome = account("task 4x longer than the visibility timeout", settings, [42], items)
    assert "output" in items[0]
    time.sleep(3)  # a second delivery would have started long before the first finished
    assert executions(settings, plugins.starts_key(settings))[42] == 1
    assert outcome.duplicates == 0
