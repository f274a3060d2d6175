"""Redis stopped and started again mid-run (same port, same AOF data): nothing is lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producer import FleetExecutor, Job
from producer.local.embedded_redis import RedisServer, start_redis
from tests.conftest import WorkerFactory, settings_for
from tests.faults.conftest import account, wait_for_executions

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: What a production Redis needs so that a restart loses no task (see the README).
DURABLE = ["--appendonly", "yes", "--appendfsync", "always", "--maxmemory-policy", "noeviction"]


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path / "redis", args=DURABLE)
    yield server
    server.stop()


def test_redis_restart_mid_run_loses_no_task_and_no_result(
    worker_factory: WorkerFactory, fault_env: dict[str, str], durable_redis: RedisServer
) -> None:
    env = {
        **fault_env,
        "CELERY_BROKER_URL": durable_redis.url(0),
        "CELERY_RESULT_BACKEND": durable_redis.url(1),
        "TEST_SLEEP_PER_ITEM": "0.01",
        # Tasks cancelled when the connection drops come back after this (their leases lapse).
        "MODELFLEET_VISIBILITY_TIMEOUT": "8",
    }
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    first_ids, second_ids = list(range(500)), list(range(500, 800))
    executor = FleetExecutor(settings)
    first = executor.submit_batches(first_ids, batch_size=10)
    wait_for_executions(settings, 100)

    durable_redis.stop()
    sent: list[Job] = []

    # A producer that sends while Redis is down keeps trying until it is back: FleetExecutor
    # sends the same messages again (same task IDs) until they are through.
    def send_while_down() -> None:
        sent.append(executor.submit_batches(second_ids, batch_size=10))

    sender = threading.Thread(target=send_while_down)
    sender.start()
    time.sleep(3)
    durable_redis.start_again()
    sender.join(timeout=60)
    assert sent, "the producer gave up sending while Redis restarted"

    first_items = list(first.results(timeout=180))
    second_items = list(sent[0].results(timeout=180))
    outcome = account(
        "Redis restart mid-run (AOF)",
        settings,
        first_ids + second_ids,
        first_items + second_items,
    )
    assert outcome.lost == 0 and not outcome.errors
    assert worker.process.poll() is None
