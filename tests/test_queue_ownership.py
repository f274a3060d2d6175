"""One model per queue, model names that are names, and tasks stranded on lists nobody serves:
against real workers and a private Redis."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
import redis
from celery import Celery
from celery.result import AsyncResult

from producer import FleetExecutor
from producer.served import UnservedModelWarning
from producer.stranded import task_name
from tests.conftest import WorkerFactory, run_cli, settings_for
from worker_config import clients
from worker_config.records import queue_owners
from worker_config.routing import plugin_name, served_models, worker_queues
from worker_config.settings import Settings

TWIN = "tests.plugins:twin_model"


def _refused(worker_factory: WorkerFactory, env: dict[str, str]) -> str:
    """Start a pool that must refuse to consume; its one-line output."""
    worker = worker_factory(concurrency=1, wait=False, env=env)
    assert worker.process.wait(timeout=60) == os.EX_CONFIG, worker.log()[-2000:]
    (line,) = [line for line in worker.log().splitlines() if line.startswith("modelfleet: ")]
    return line


def test_a_pool_with_another_model_refuses_the_queue_and_no_item_comes_from_it(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    first = worker_factory(concurrency=1)
    queue = fleet_env["MODELFLEET_QUEUE"]

    # Its default model is twin: it would consume the plain queue with another model.
    line = _refused(worker_factory, {"MODELFLEET_MODEL": f"twin={TWIN}"})
    assert f"queue {queue!r} belongs to model 'digits'" in line
    assert "'twin'" in line and "MODELFLEET_DEFAULT_MODEL=digits" in line
    # Same name, another plug-in: the per-model queue is refused too (before the plain one).
    line = _refused(worker_factory, {"MODELFLEET_MODEL": f"digits={TWIN}"})
    assert "belongs to model 'digits'" in line and TWIN in line and "MODELFLEET_MODEL=" in line

    done = run_cli(fleet_env, "enqueue", "0-9", "--batch-size", "1", "--wait")
    assert done.returncode == 0, done.stderr
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == list(range(10))
    assert all("model" not in item["output"] for item in items)  # twin tags its outputs

    shown = run_cli(fleet_env, "status", "--timeout", "2")
    digits = "worker_config.plugins.models.digits:load"
    assert f"{queue}: 0 waiting, consumed by {first.hostname}; model 'digits' ({digits})" in (
        shown.stdout
    )

    # A producer naming a model nobody serves hears it at once, with the models that are served.
    sent = run_cli(fleet_env, "enqueue", "--model", "centroids", "0")
    assert sent.returncode == 0, sent.stderr
    assert "warning: no live worker serves model 'centroids'" in sent.stderr
    assert f"digits ({queue}, {queue}.digits)" in sent.stderr
    with (
        pytest.warns(UnservedModelWarning, match=r"served now: digits"),
        FleetExecutor(settings_for(fleet_env), model="centroids"),
    ):
        pass


def test_a_plugin_without_name_gets_its_declared_name_and_a_queue_of_that_name(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    assert plugin_name("tests.plugins:centroids_model") == "centroids"
    assert plugin_name(TWIN) == "plugins"  # undeclared: the module's last part, never a path
    assert plugin_name("digits") == "digits"
    assert served_models(Settings(model="tests.plugins:centroids_model,digits")) == {
        "centroids": "tests.plugins:centroids_model",
        "digits": "digits",
    }
    # The second plug-in declares no name: it is served as `plugins`, and the child says so.
    env = {
        "MODELFLEET_MODEL": f"tests.plugins:centroids_model,{TWIN}",
        "MODELFLEET_DEFAULT_MODEL": "x",
    }
    worker = worker_factory(concurrency=1, env=env)
    assert "calls itself 'twin' but is served as 'plugins'" in worker.log()

    done = run_cli(fleet_env, "enqueue", "--model", "centroids", "0-2", "--wait", "--timeout", "60")

    assert done.returncode == 0, done.stderr
    assert "no live worker" not in done.stderr
    outputs = [json.loads(line)["output"] for line in done.stdout.splitlines()]
    assert [o["model"] for o in outputs] == ["centroids"] * 3


def test_a_queue_claim_lapses_once_no_pool_renews_it(fleet_settings: Settings) -> None:
    client = clients.backend(fleet_settings)
    mine = {"model": "digits", "plugin": "digits", "worker": "a@h"}
    assert queue_owners.claim(client, fleet_settings, "q", **mine, ttl=1) is None
    other = {"model": "centroids", "plugin": "m:f", "worker": "b@h"}
    refused = queue_owners.claim(client, fleet_settings, "q", **other)
    assert refused is not None and refused["model"] == "digits"
    time.sleep(2.1)  # Redis' clock has whole seconds
    assert "q" not in queue_owners.read(client, fleet_settings)
    assert queue_owners.claim(client, fleet_settings, "q", **other) is None


def test_status_finds_modelfleet_tasks_sent_without_a_queue_and_extra_queues_serve_them(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], broker: redis.Redis
) -> None:
    extra = f"celery-{uuid.uuid4().hex[:6]}"
    assert worker_queues(Settings(queue="mf", extra_queues=extra)) == ["mf", extra, "mf.digits"]
    worker = worker_factory(concurrency=1, env={"MODELFLEET_EXTRA_QUEUES": extra})
    settings = settings_for(fleet_env)
    other = Celery("other-app", broker=settings.broker_url, backend=settings.result_backend)
    other.conf.update(task_serializer="json", accept_content=["json"])
    stranded: list[AsyncResult] = []
    try:
        # How most Celery users send: no queue=, so the task goes to the list `celery`.
        stranded += [other.send_task("modelfleet.predict_batch", args=[[0, 1, 2]]) for _ in "ab"]
        assert task_name(broker.lindex("celery", 0) or b"") == "modelfleet.predict_batch"

        shown = run_cli(fleet_env, "status", "--timeout", "2")

        assert "warning: 2 tasks wait on list 'celery'" in shown.stderr, shown.stderr
        assert f"queue={fleet_env['MODELFLEET_QUEUE']!r}" in shown.stderr
        assert "MODELFLEET_EXTRA_QUEUES=celery" in shown.stderr
        assert f"warning: 2 tasks wait on list {extra!r}" not in shown.stderr
        assert all(r.state == "PENDING" for r in stranded)

        # A pool told to consume the extra list serves our tasks there ...
        served = other.send_task("modelfleet.predict_batch", args=[[0, 1, 2]], queue=extra)
        assert [item["id"] for item in served.get(timeout=60)] == [0, 1, 2]
        # ... and receives other apps' tasks there too: Celery discards an unregistered task
        # and records it FAILED with NotRegistered, so it is lost to the app that sent it.
        foreign = other.send_task("otherapp.add", args=[1, 2], queue=extra)
        foreign.get(timeout=60, propagate=False)
        assert foreign.state == "FAILURE" and type(foreign.result).__name__ == "NotRegistered"
        assert "Received unregistered task of type 'otherapp.add'" in worker.log()
        assert broker.llen(extra) == 0
    finally:
        broker.delete("celery")
        stranded.clear()  # unsubscribed now, while Redis still runs
        other.close()
