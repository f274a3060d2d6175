"""Real workers on a real Redis: model loading, ordered results, per-item errors, bad messages."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from kombu import Connection, Exchange, Producer, Queue

from producer import FleetExecutor
from producer.local.worker import LocalWorker
from producer.status import child_loads
from tests.conftest import WorkerFactory, run_cli
from worker_config.plugins.models.digits import N_ROWS, split_ids
from worker_config.settings import Settings


def plain_celery_app(settings: Settings) -> Celery:
    """What another app has: only celery, the broker URLs and the task names."""
    app = Celery("other-app", broker=settings.broker_url, backend=settings.result_backend)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    return app


def test_each_child_loads_the_model_exactly_once_whatever_the_number_of_tasks(
    worker: LocalWorker, fleet_settings: Settings
) -> None:
    app = plain_celery_app(fleet_settings)
    singles = [
        app.send_task("modelfleet.predict", args=[i], queue=fleet_settings.queue)
        for i in range(150)
    ]
    assert [r.get(timeout=60)["id"] for r in singles] == list(range(150))
    with FleetExecutor(fleet_settings, batch_size=7) as executor:
        assert len(list(executor.map(range(N_ROWS), timeout=60))) == N_ROWS

    loads = child_loads(fleet_settings, worker.hostname)
    assert len(loads) == 2
    assert {c.loads for c in loads.values()} == {1}
    assert worker.process.pid not in loads  # the parent never loads the model


def test_map_returns_correct_results_in_input_order(
    worker: LocalWorker, fleet_settings: Settings
) -> None:
    from sklearn.datasets import load_digits

    target = load_digits().target
    ids = list(range(N_ROWS))[::-1]  # reversed, so order cannot come from the data set
    with FleetExecutor(fleet_settings) as executor:
        items = list(executor.map(ids, timeout=60))
    assert [item["id"] for item in items] == ids
    labels = {item["id"]: item["output"]["label"] for item in items}
    _, held_out = split_ids()
    accuracy = sum(labels[i] == target[i] for i in held_out) / len(held_out)
    assert accuracy >= 0.95
    assert all(0.0 <= item["output"]["confidence"] <= 1.0 for item in items)


def test_bad_ids_get_error_items_beside_good_ones(
    worker: LocalWorker, fleet_settings: Settings
) -> None:
    app = plain_celery_app(fleet_settings)
    batch = [3, "x", 99_999, True, "7", None, "a" * 300, 2**70, 4]
    items = app.send_task("modelfleet.predict_batch", args=[batch], queue=fleet_settings.queue).get(
        timeout=30
    )
    assert len(items) == len(batch)
    kinds = [item["error"]["type"] if "error" in item else "ok" for item in items]
    assert kinds == [
        "ok", "InvalidInput", "UnknownInput", "InvalidId", "ok",
        "InvalidId", "InvalidId", "InvalidId", "ok",
    ]  # fmt: skip
    assert items[0]["id"] == 3 and items[4]["id"] == "7" and items[8]["id"] == 4
    assert "0..1796" in items[2]["error"]["message"]

    single = app.send_task("modelfleet.predict", args=[[1, 2]], queue=fleet_settings.queue)
    assert single.get(timeout=30)["error"]["type"] == "InvalidId"


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([], "empty"),
        (list(range(50_001)), "larger than the limit of 50000"),
        ("0-9", "list of IDs"),
    ],
)
def test_malformed_batches_fail_with_a_clear_error(
    worker: LocalWorker, fleet_settings: Settings, batch: object, message: str
) -> None:
    app = plain_celery_app(fleet_settings)
    result = app.send_task("modelfleet.predict_batch", args=[batch], queue=fleet_settings.queue)
    with pytest.raises(Exception, match=message) as raised:
        result.get(timeout=30)
    assert type(raised.value).__name__ == "InvalidBatch"


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


def test_pickle_and_wrong_type_messages_are_refused_and_the_worker_keeps_serving(
    worker: LocalWorker, fleet_settings: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "pickle-was-executed"
    with Connection(fleet_settings.broker_url) as conn:
        exchange = Exchange(fleet_settings.queue, type="direct")
        producer = Producer(conn, exchange=exchange)
        producer.publish(
            ((_Exploit(marker),), {}, {}),
            serializer="pickle",
            routing_key=fleet_settings.queue,
            declare=[Queue(fleet_settings.queue, exchange, routing_key=fleet_settings.queue)],
            headers={"task": "modelfleet.predict_batch", "id": str(uuid.uuid4()), "lang": "py"},
        )
    app = plain_celery_app(fleet_settings)
    queue = fleet_settings.queue
    wrong_count = app.send_task("modelfleet.predict", args=[1, 2, 3], queue=queue)
    wrong_kwargs = app.send_task(
        "modelfleet.predict_batch", kwargs={"ids": [1], "x": 1}, queue=queue
    )
    nested = app.send_task("modelfleet.predict_batch", args=[[{"a": [1, {"b": 2}]}]], queue=queue)

    with pytest.raises(TypeError):
        wrong_count.get(timeout=30)
    with pytest.raises(TypeError):
        wrong_kwargs.get(timeout=30)
    assert nested.get(timeout=30)[0]["error"]["type"] == "InvalidId"
    valid = app.send_task("modelfleet.predict", args=[5], queue=queue).get(timeout=30)
    assert valid["output"]["label"] == 5
    assert not marker.exists()
    assert worker.process.poll() is None
    assert "disallowed" in worker.log().lower() or "refusing" in worker.log().lower()


def test_a_model_that_fails_to_load_stops_the_worker_with_its_message(
    worker_factory: WorkerFactory,
) -> None:
    started = time.monotonic()
    failing = worker_factory(
        concurrency=2, wait=False, env={"MODELFLEET_MODEL": "tests.plugins:failing_model"}
    )
    code = failing.process.wait(timeout=60)
    assert code != 0
    assert time.monotonic() - started < 30
    assert "weights file /nonexistent/model.bin is missing" in failing.log()


def test_an_unknown_model_name_exits_78_before_any_child_starts(
    worker_factory: WorkerFactory,
) -> None:
    bad = worker_factory(wait=False, env={"MODELFLEET_MODEL": "no_such_model"})
    assert bad.process.wait(timeout=60) == 78
    assert "model 'no_such_model' not found; known: " in bad.log()
    assert "digits" in bad.log().split("known: ")[1]


@pytest.mark.slow
def test_a_model_slower_to_load_than_celerys_4s_child_timeout_still_serves(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    slow = worker_factory(
        concurrency=1,
        env={"MODELFLEET_MODEL": "tests.plugins:slow_model", "TEST_SLOW_LOAD_SECONDS": "6"},
    )
    with FleetExecutor(fleet_settings) as executor:
        items = list(executor.map(range(20), timeout=60))
    assert [item["id"] for item in items] == list(range(20))
    loads = child_loads(fleet_settings, slow.hostname)
    assert [c.loads for c in loads.values()] == [1]
    assert loads[next(iter(loads))].load_seconds >= 6


def test_cli_enqueue_wait_prints_json_lines_in_input_order(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    done = run_cli(fleet_env, "enqueue", "10-0", "cat", "5000", "--wait", "--timeout", "60")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in lines] == [*range(10, -1, -1), "cat", 5000]
    assert lines[0]["output"]["label"] == 0  # row 10 of the digits data is a zero
    assert done.returncode == 1, done.stderr  # ExitCode.FAILED: two items failed
    assert "2 of 13 items failed" in done.stderr

    from_stdin = run_cli(fleet_env, "enqueue", "--wait", "--batch-size", "2", stdin="1\n2 3\n")
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert [json.loads(x)["id"] for x in from_stdin.stdout.splitlines()] == [1, 2, 3]


def test_cli_enqueue_without_wait_prints_task_ids_that_results_can_read(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    sent = run_cli(fleet_env, "enqueue", "0-5", "--batch-size", "3")
    task_ids = sent.stdout.split()
    assert sent.returncode == 0 and len(task_ids) == 2
    read = run_cli(fleet_env, "results", *task_ids, "--timeout", "30")
    assert [json.loads(x)["id"] for x in read.stdout.splitlines()] == list(range(6))


def test_cli_status_shows_workers_concurrency_and_model(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    shown = run_cli(fleet_env, "status", "--timeout", "2")
    assert shown.returncode == 0, shown.stderr
    assert worker.hostname in shown.stdout
    assert "concurrency 2" in shown.stdout
    assert shown.stdout.count("model digits") == 2


def test_unreachable_broker_names_the_url_without_its_password(
    fleet_env: dict[str, str],
) -> None:
    from producer.local.embedded_redis import free_port

    port = free_port()
    env = {**fleet_env, "CELERY_BROKER_URL": f"redis://:s3cret@127.0.0.1:{port}/0"}
    done = run_cli(env, "enqueue", "1", "--wait")
    assert done.returncode == 3
    assert f"127.0.0.1:{port}" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout


def test_invalid_settings_are_named_by_their_environment_variable(
    fleet_env: dict[str, str],
) -> None:
    done = run_cli({**fleet_env, "MODELFLEET_MAX_BATCH": "lots"}, "enqueue", "1")
    assert done.returncode == 5
    assert "MODELFLEET_MAX_BATCH" in done.stderr
