"""Resource bounds: oversize inputs are not read, far ETAs are refused, and a forged
``redelivered`` flag does not make a batch run one input at a time."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from celery import Celery

from producer import FleetExecutor
from tests.conftest import WorkerFactory, settings_for
from tests.faults.conftest import account, submit
from worker_config.contract import PREDICT_BATCH

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def client_app(env: dict[str, str]) -> Celery:
    return Celery(broker=env["CELERY_BROKER_URL"], backend=env["CELERY_RESULT_BACKEND"])


def test_an_input_over_the_size_limit_is_an_item_error_and_is_read_once_per_batch_at_most(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    env = {**fleet_env, "MODELFLEET_SOURCE": "redis", "MODELFLEET_MAX_INPUT_BYTES": "100000"}
    settings = settings_for(env)
    store = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    prefix = env["MODELFLEET_INPUT_PREFIX"]
    store.set(f"{prefix}big", b"[" + b"0," * 2_500_000 + b"0]")  # 5 MB of JSON
    store.set(f"{prefix}row", json.dumps([0.0] * 64))
    store.set(f"{prefix}edge", json.dumps([1] * 64).ljust(100_000))  # exactly at the limit
    worker_factory(concurrency=1, env=env)
    ids: list[Any] = ["row", *["big"] * 20, "edge", "row"]
    items = list(FleetExecutor(settings).map(ids, timeout=60, batch_size=len(ids)))
    assert [item["id"] for item in items] == ids
    assert all(item["error"]["type"] == "InputTooLarge" for item in items[1:21]), items[1]
    assert "MODELFLEET_MAX_INPUT_BYTES" in items[1]["error"]["message"]
    assert "output" in items[0] and "output" in items[21] and "output" in items[22]


def test_tasks_with_an_eta_beyond_the_limit_fail_at_once_and_are_not_held(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    env = {**fleet_env, "MODELFLEET_MAX_ETA": "3600"}
    worker = worker_factory(concurrency=1, env=env)
    app = client_app(env)
    queue = env["MODELFLEET_QUEUE"]
    far = [
        app.send_task(PREDICT_BATCH, args=[[i]], queue=queue, eta=datetime(9999, 1, 1, tzinfo=UTC))
        for i in range(100)
    ] + [app.send_task(PREDICT_BATCH, args=[[i]], queue=queue, countdown=10**6) for i in range(100)]
    near = app.send_task(PREDICT_BATCH, args=[[5]], queue=queue, countdown=1)
    started = time.monotonic()
    for result in far:
        with pytest.raises(Exception) as refused:
            result.get(timeout=60)
        assert type(refused.value).__name__ == "EtaTooFar"
        assert "MODELFLEET_MAX_ETA" in str(refused.value)
    assert time.monotonic() - started < 60
    assert near.get(timeout=60)[0]["id"] == 5  # a near ETA still runs
    broker = redis.Redis.from_url(env["CELERY_BROKER_URL"])
    assert broker.llen(queue) == 0
    held = [json.loads(v)[0]["headers"]["id"] for v in broker.hvals("unacked")]
    assert not {r.id for r in far} & set(held), "refused tasks still held"
    assert "refused task" in worker.log() and "MODELFLEET_MAX_ETA" in worker.log()


def test_a_forged_redelivered_flag_does_not_make_a_batch_run_one_input_at_a_time(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    settings = settings_for(fault_env)
    ids = list(range(500))
    job = submit(settings, ids, batch_size=500)
    broker = redis.Redis.from_url(fault_env["CELERY_BROKER_URL"])
    queue = fault_env["MODELFLEET_QUEUE"]
    raw = broker.lindex(queue, 0)
    assert raw is not None
    message = json.loads(raw)
    message["headers"]["redelivered"] = True
    message["properties"]["delivery_info"]["redelivered"] = True
    broker.lset(queue, 0, json.dumps(message))
    worker = worker_factory(concurrency=1, env=fault_env)
    items = list(job.results(timeout=60))
    outcome = account("forged redelivered flag on a 500-ID batch", settings, ids, items)
    assert outcome.lost == 0 and not outcome.errors and outcome.duplicates == 0
    log = worker.log()
    assert "no earlier delivery of it started here" in log
    assert "one at a time" not in log
