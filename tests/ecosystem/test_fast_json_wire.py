"""Results written by the orjson-backed serializer are read by an app with only celery."""

from __future__ import annotations

import base64
import json
import subprocess

import redis

from producer import FleetExecutor
from producer.local.worker import LocalWorker
from tests.conftest import settings_for

READER = """
import json, os, sys
from celery import Celery
app = Celery("other-app", broker=os.environ["CELERY_BROKER_URL"],
             backend=os.environ["CELERY_RESULT_BACKEND"])
app.conf.update(accept_content=["json"], result_accept_content=["json"])
print(json.dumps(app.AsyncResult(sys.argv[1]).get(timeout=30)))
"""


def test_a_plain_celery_client_reads_results_our_fast_serializer_wrote(
    foreign_python: str, worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    settings = settings_for(fleet_env)
    ids: list[object] = [5, "caf\u00e9", 1796]
    with FleetExecutor(settings) as executor:
        job = executor.submit_batches(ids, batch_size=10)
        ours = list(job.results(timeout=60))
        (task_id,) = job.task_ids
    done = subprocess.run(
        [foreign_python, "-I", "-c", READER, task_id],
        env=fleet_env, cwd="/", capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ours
    assert [item["id"] for item in ours] == ids
    assert ours[1]["error"]["type"] in {"InvalidInput", "UnknownInput"}
    assert "output" in ours[0] and "output" in ours[2]


def test_stored_results_and_sent_tasks_are_utf8_json_of_the_same_items(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    settings = settings_for(fleet_env)
    with FleetExecutor(settings) as executor:
        job = executor.submit_batches([0, 1, 2], batch_size=10)
        items = list(job.results(timeout=60))
        backend = executor.app.backend
        key = backend.get_key_for_task(job.task_ids[0])  # type: ignore[attr-defined]
    client = redis.Redis.from_url(settings.result_backend)
    try:
        stored = json.loads(client.get(key).decode("utf-8"))  # type: ignore[union-attr]
    finally:
        client.close()
    assert stored["status"] == "SUCCESS"
    assert stored["result"] == items
    assert isinstance(stored["date_done"], str)  # Celery's isoformat, not a kombu envelope


def test_task_messages_keep_the_json_content_type(fleet_env: dict[str, str]) -> None:
    settings = settings_for(fleet_env).model_copy(update={"queue": "wire-json-nobody"})
    client = redis.Redis.from_url(settings.broker_url)
    try:
        with FleetExecutor(settings) as executor:
            executor.submit_batches([7, 8], batch_size=10)
        raw = client.lpop(settings.queue)
        assert raw is not None
        message = json.loads(raw)
        assert message["content-type"] == "application/json"
        assert message["content-encoding"] == "utf-8"
        body = json.loads(base64.b64decode(message["body"]))
        assert body[0] == [[7, 8]]
    finally:
        client.delete(settings.queue)
        client.close()
