"""Inputs that kill, hang or break their worker process: contained, reported, never looping."""

from __future__ import annotations

import json

import pytest
import redis

from producer.status import child_loads
from tests.conftest import WorkerFactory, run_cli, settings_for
from tests.faults.conftest import account, executions, submit
from worker_config.records import dead_letters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

POISON = 13


def test_poison_input_is_dead_lettered_after_3_deaths_alone_and_its_neighbours_are_served(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_POISON_IDS": str(POISON)}
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    ids = list(range(200))
    items = list(submit(settings, ids, batch_size=10).results(timeout=180))

    outcome = account("poison input (os._exit on one ID)", settings, ids, items)
    assert outcome.errors == {"DeadLettered": 1}
    assert items[POISON]["error"]["type"] == "DeadLettered"
    assert "modelfleet dead-letters --replay" in items[POISON]["error"]["message"]
    assert executions(settings).keys() == set(ids) - {POISON}
    assert worker.process.poll() is None
    # Four deaths (the whole batch, then 13 alone three times), each child replaced and
    # loading the model once (the last replacement may still be loading).
    worker.wait_ready(settings, children=2 + 4, timeout=60)
    loads = child_loads(settings, worker.hostname)
    assert len(loads) == 2 + 4 and {c.loads for c in loads.values()} == {1}

    client = redis.Redis.from_url(settings.result_backend)
    letters = [letter for _, letter in dead_letters.read(client, settings)]
    client.close()
    assert [(x.id, x.deliveries) for x in letters] == [(POISON, 3)]
    assert letters[0].task_id and letters[0].queue == settings.queue


def test_dead_letters_are_listed_and_replayed_by_the_cli(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    poisoned = {**fault_env, "TEST_POISON_IDS": str(POISON), "MODELFLEET_MAX_DELIVERIES": "1"}
    settings = settings_for(poisoned)
    first = worker_factory(concurrency=1, env=poisoned)
    items = list(submit(settings, [POISON, 14], batch_size=2).results(timeout=120))
    assert items[0]["error"]["type"] == "DeadLettered" and "output" in items[1]

    listed = run_cli(poisoned, "dead-letters", timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert f'"id": {POISON}' in listed.stdout and "died" in listed.stdout

    first.stop()
    worker_factory(concurrency=1, env=fault_env)  # the fixed model
    replayed = run_cli(fault_env, "dead-letters", "--replay", "--wait", "--timeout", "60")
    assert replayed.returncode == 0, replayed.stderr
    results = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert [r["id"] for r in results] == [POISON] and "output" in results[0]
    assert run_cli(fault_env, "dead-letters", timeout=120).stdout.strip() == ""


def test_inference_that_raises_gives_an_error_item_at_once_without_a_retry(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_RAISE_IDS": "7"}
    settings = settings_for(env)
    worker_factory(concurrency=1, env=env)
    ids = list(range(20))
    items = list(submit(settings, ids, batch_size=10).results(timeout=60))
    outcome = account("inference raises on one ID", settings, ids, items)
    assert outcome.errors == {"InferenceError": 1}
    assert "cannot handle input 7" in items[7]["error"]["message"]
    assert executions(settings) == dict.fromkeys(set(ids) - {7}, 1)  # nobody ran twice


def test_a_dropped_input_source_connection_is_retried_with_backoff_then_succeeds(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_FLAKY_FETCHES": "2"}
    settings = settings_for(env)
    worker = worker_factory(concurrency=1, env=env)
    items = list(submit(settings, [1, 2, 3], batch_size=3).results(timeout=90))
    assert [item["output"]["label"] for item in items] == [1, 2, 3]
    assert worker.log().count("Retry in") == 2
    client = redis.Redis.from_url(settings.result_backend)
    assert int(client.get(f"{settings.key_prefix}test:fetches") or 0) == 3
    client.close()
