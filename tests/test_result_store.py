"""The worker stores each result in one round trip (celery_ext/results.py), keeping Celery's
rule that a stored SUCCESS is never overwritten, and Celery's pub/sub notice."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery import Celery, states

from producer.local.embedded_redis import RedisServer
from worker_config.celery_ext.results import StoreOnceRedisBackend
from worker_config.celeryconfig import celery_config
from worker_config.settings import Settings


@pytest.fixture
def backend(redis_server: RedisServer) -> Iterator[StoreOnceRedisBackend]:
    settings = Settings(
        CELERY_BROKER_URL=redis_server.url(0), CELERY_RESULT_BACKEND=redis_server.url(1)
    )
    app = Celery("store-test", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.backend_cls = StoreOnceRedisBackend  # type: ignore[assignment]
    store = app.backend
    assert isinstance(store, StoreOnceRedisBackend)
    yield store
    app.close()


def _stored(backend: StoreOnceRedisBackend, task_id: str) -> dict[str, object]:
    raw = backend.client.get(backend.get_key_for_task(task_id))
    return json.loads(raw)  # type: ignore[no-any-return]


def test_a_result_is_stored_with_its_expiry_and_announced(
    backend: StoreOnceRedisBackend, redis_server: RedisServer
) -> None:
    task_id = str(uuid.uuid4())
    listener = redis.Redis.from_url(redis_server.url(1)).pubsub()
    listener.subscribe(backend.get_key_for_task(task_id))
    listener.get_message(timeout=2)  # the subscription's confirmation
    backend.store_result(task_id, {"id": 1, "output": {}}, states.SUCCESS)
    meta = _stored(backend, task_id)
    assert (meta["status"], meta["result"], meta["task_id"]) == (
        "SUCCESS", {"id": 1, "output": {}}, task_id
    )  # fmt: skip
    assert 0 < backend.client.ttl(backend.get_key_for_task(task_id)) <= 86_400
    notice = listener.get_message(timeout=5)
    assert notice is not None and json.loads(notice["data"])["status"] == "SUCCESS"
    listener.close()
    # Celery's own reader finds it.
    assert backend.get_task_meta(task_id)["result"] == {"id": 1, "output": {}}


def test_a_stored_success_is_never_overwritten_by_a_twin(backend: StoreOnceRedisBackend) -> None:
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, {"id": 1, "output": {"v": 1}}, states.SUCCESS)
    backend.store_result(task_id, ValueError("twin failed"), states.FAILURE)
    backend.store_result(task_id, {"id": 1, "output": {"v": 2}}, states.SUCCESS)
    assert _stored(backend, task_id)["result"] == {"id": 1, "output": {"v": 1}}


def test_a_failure_is_replaced_by_a_later_success(backend: StoreOnceRedisBackend) -> None:
    task_id = str(uuid.uuid4())
    backend.store_result(task_id, ValueError("first delivery failed"), states.FAILURE)
    assert _stored(backend, task_id)["status"] == "FAILURE"
    backend.store_result(task_id, {"id": 2, "output": {}}, states.SUCCESS)
    assert _stored(backend, task_id)["status"] == "SUCCESS"


def test_one_round_trip_per_result(backend: StoreOnceRedisBackend) -> None:
    backend.store_result(str(uuid.uuid4()), 1, states.SUCCESS)  # loads the script
    info = backend.client.info("commandstats")
    before = {k: v["calls"] for k, v in info.items()}
    backend.store_result(str(uuid.uuid4()), 2, states.SUCCESS)
    after = {k: v["calls"] for k, v in backend.client.info("commandstats").items()}
    changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    changed.pop("cmdstat_info", None)
    # One EVALSHA (the GET, SETEX and PUBLISH inside it are counted too), no MULTI/EXEC.
    assert changed.get("cmdstat_evalsha") == 1
    assert not {"cmdstat_multi", "cmdstat_exec"} & set(changed)
