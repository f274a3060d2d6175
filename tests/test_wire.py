"""The pipelined send (producer/wire.py) writes the messages Celery writes: field for field, on
the same Redis list, and a stock Celery worker that knows nothing of modelfleet runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from producer import wire
from producer.connection import client_app
from producer.executor import FleetExecutor
from producer.local.embedded_redis import RedisServer
from tests.conftest import settings_for
from worker_config import keys
from worker_config.contract import PREDICT, PREDICT_BATCH
from worker_config.settings import Settings

#: A Celery app with a ``modelfleet.predict`` task of its own: celery only, none of our code.
STOCK_APP = """
import os
from celery import Celery

app = Celery("stockwire", broker=os.environ["CELERY_BROKER_URL"],
             backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])

@app.task(name="modelfleet.predict")
def predict(input_id):
    return {"id": input_id, "output": {"twice": input_id * 2}}
"""


def _settings(redis_server: RedisServer, **extra: Any) -> Settings:
    return Settings(
        CELERY_BROKER_URL=redis_server.url(0),
        CELERY_RESULT_BACKEND=redis_server.url(1),
        queue=f"wire-{uuid.uuid4().hex[:8]}",
        **extra,
    )


@pytest.mark.parametrize(
    "case",
    [
        (PREDICT, [17], None, None),
        (PREDICT, ['it\'s "quoted" \u00e9'], None, None),
        (PREDICT, [5], {"model": "forest"}, None),
        (PREDICT_BATCH, [[1, "two", 3]], None, None),
        (PREDICT_BATCH, [list(range(400))], None, None),  # a long argsrepr, cut like Celery's
        (PREDICT, [1], None, 5),  # kombu's priority sub-list
        (PREDICT, [1], None, 9),
    ],
)
@pytest.mark.parametrize("global_keyprefix", ["", "tenant-a:"])
def test_message_is_the_one_send_task_writes_on_the_same_list(
    redis_server: RedisServer,
    broker: redis.Redis,
    case: tuple[str, list[Any], dict[str, Any] | None, int | None],
    global_keyprefix: str,
) -> None:
    task, args, kwargs, priority = case
    settings = _settings(redis_server, global_keyprefix=global_keyprefix)
    app = client_app(settings)
    options: dict[str, Any] = {"kwargs": kwargs or {}}
    if priority is not None:
        options["priority"] = priority
    task_id = str(uuid.uuid4())
    app.send_task(task, args=args, queue=settings.queue, task_id=task_id, **options)
    lists = [k for k in keys.queue_lists(settings, settings.queue) if broker.llen(k)]
    assert len(lists) == 1
    theirs = json.loads(broker.rpop(lists[0]))  # type: ignore[arg-type]

    env = wire.envelope(
        settings, task, settings.queue, reply_to=app.thread_oid, kwargs=kwargs, priority=priority
    )
    app.close()
    wire.push(broker, env, [task_id], [args])
    assert env.queue_key == lists[0]
    ours = json.loads(broker.rpop(lists[0]))  # type: ignore[arg-type]

    assert ours["properties"].pop("delivery_tag") != theirs["properties"].pop("delivery_tag")
    assert ours == theirs


def test_task_ids_are_distinct_version_4_uuids() -> None:
    made = wire.new_task_ids(5000)
    assert len(set(made)) == len(made)
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_tasks_arrive_in_the_order_sent(redis_server: RedisServer, broker: redis.Redis) -> None:
    settings = _settings(redis_server)
    env = wire.envelope(settings, PREDICT, settings.queue, reply_to="r")
    ids = wire.new_task_ids(50)
    wire.push(broker, env, ids, [[i] for i in range(50)])
    popped = [json.loads(broker.rpop(env.queue_key))["headers"]["id"] for _ in ids]  # type: ignore[arg-type]
    assert popped == ids


@pytest.fixture
def stock_worker(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``celery -A stockwire worker`` on the test's queue, with only the app above importable."""
    (tmp_path / "stockwire.py").write_text(STOCK_APP)
    env = {**fleet_env, "PYTHONPATH": str(tmp_path)}
    with (tmp_path / "stock.log").open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "stockwire", "worker"),
                *("-Q", fleet_env["MODELFLEET_QUEUE"], "--concurrency=2", "--loglevel=INFO"),
                *("--without-mingle", "--without-gossip", f"--hostname=stock-{uuid.uuid4()}@%h"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_a_stock_celery_worker_runs_a_thousand_pipelined_tasks(
    fleet_env: dict[str, str], stock_worker: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    ids = list(range(1000))
    with FleetExecutor(settings_for(fleet_env)) as executor:
        items = list(executor.submit_each(ids).results(timeout=120))
    assert stock_worker.poll() is None, (tmp_path / "stock.log").read_text()
    assert items == [{"id": i, "output": {"twice": 2 * i}} for i in ids]


def test_our_worker_runs_a_thousand_pipelined_tasks_in_order(
    fleet_env: dict[str, str], worker: object
) -> None:
    ids = [*range(999), "not-a-row"]
    with FleetExecutor(settings_for(fleet_env)) as executor:
        items = list(executor.submit_each(ids).results(timeout=120))
    assert [item["id"] for item in items] == ids
    assert all("output" in item for item in items[:-1])
    assert items[-1]["error"]["type"] == "InvalidInput"
