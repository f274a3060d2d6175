"""Per-model queues: two pools serving two models on one Redis, routing by model name, and a
queue nobody serves reported by ``modelfleet status`` instead of waiting silently."""

from __future__ import annotations

import pytest
from celery import Celery

from producer import FleetExecutor
from tests.conftest import WorkerFactory, run_cli, settings_for
from worker_config.errors import ConfigError
from worker_config.routing import model_for_task, served_models, worker_queues
from worker_config.settings import Settings

TWIN = "twin=tests.plugins:twin_model"


def test_model_list_names_queues_and_gives_the_plain_queue_to_the_default_model() -> None:
    both = Settings(model=f"digits, {TWIN}", queue="mf")
    assert served_models(both) == {"digits": "digits", "twin": "tests.plugins:twin_model"}
    assert worker_queues(both) == ["mf", "mf.digits", "mf.twin"]
    only_twin = Settings(model=TWIN, default_model="digits", queue="mf")
    assert worker_queues(only_twin) == ["mf.twin"]
    assert model_for_task(only_twin, None, {"routing_key": "mf.twin"}) == "twin"
    with pytest.raises(ConfigError, match="named twice"):
        served_models(Settings(model="digits,digits"))


def test_two_pools_serve_two_models_routed_by_name_on_one_redis(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    shared = {"MODELFLEET_DEFAULT_MODEL": "digits"}
    worker_factory(concurrency=1, env={**shared, "MODELFLEET_MODEL": "digits"})
    worker_factory(concurrency=1, env={**shared, "MODELFLEET_MODEL": TWIN})
    settings = settings_for({**fleet_env, **shared})
    ids = list(range(40))

    with FleetExecutor(settings, model="twin", batch_size=7) as executor:
        twin = list(executor.map(ids, timeout=60))
    with FleetExecutor(settings, model="digits", batch_size=7) as executor:
        named = list(executor.map(ids, timeout=60))
    with FleetExecutor(settings, batch_size=7) as executor:
        plain = list(executor.map(ids, timeout=60))

    assert [item["output"]["model"] for item in twin] == ["twin"] * len(ids)
    assert all("model" not in item["output"] for item in named + plain)
    assert [i["output"]["label"] for i in twin] == [i["output"]["label"] for i in plain]

    # The public contract is unchanged: another app sends by name to the plain queue.
    other = Celery("other-app", broker=settings.broker_url, backend=settings.result_backend)
    other.conf.update(task_serializer="json", accept_content=["json"])
    one = other.send_task("modelfleet.predict", args=[5], queue=settings.queue)
    assert one.get(timeout=30) == plain[5]
    # A task that names a model its pool does not load fails with a message saying where to go.
    wrong = other.send_task(
        "modelfleet.predict", args=[5], kwargs={"model": "twin"}, queue=settings.queue
    )
    wrong.get(timeout=30, propagate=False)
    assert wrong.state == "FAILURE"
    assert "not 'twin'" in str(wrong.result)
    other.close()


def test_status_reports_a_queue_with_waiting_tasks_and_no_consumer(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    worker = worker_factory(concurrency=1)
    sent = run_cli(fleet_env, "enqueue", "--model", "nobody", "0-9", "--batch-size", "5")
    assert sent.returncode == 0, sent.stderr

    shown = run_cli(fleet_env, "status", "--timeout", "2")

    queue = fleet_env["MODELFLEET_QUEUE"]
    assert shown.returncode == 0, shown.stderr
    assert f"{queue}.nobody: 2 waiting, NO WORKER consumes it" in shown.stdout
    assert f"{queue}.digits: 0 waiting, consumed by {worker.hostname}" in shown.stdout
    assert f"2 tasks wait on queue '{queue}.nobody'" in shown.stderr
    assert "MODELFLEET_MODEL=nobody" in shown.stderr
