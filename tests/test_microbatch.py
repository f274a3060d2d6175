"""Server-side micro-batching with real workers: queued single-ID tasks answered in one call."""

from __future__ import annotations

import time

import redis
from celery import Celery
from kombu import Connection

from tests.conftest import WorkerFactory
from worker_config.plugins.models.digits import N_ROWS
from worker_config.runtime.microbatch import FIRST_SIZE, UNACKED_KEY, MicroBatcher
from worker_config.settings import Settings

REPORTING = {"MODELFLEET_MODEL": "tests.microbatch_plugins:batch_reporting_model"}


def plain_celery_app(settings: Settings) -> Celery:
    """What another app has: only celery, the broker URLs and the task names."""
    app = Celery("other-app", broker=settings.broker_url, backend=settings.result_backend)
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    return app


def unacked_here(broker: redis.Redis, settings: Settings) -> int:
    """Messages of this test's queue in kombu's unacked hash (shared by the session's tests)."""
    return sum(f'"{settings.queue}"'.encode() in v for v in broker.hvals(UNACKED_KEY))


def without_batch(item: dict[str, object]) -> dict[str, object]:
    output = dict(item["output"])  # type: ignore[call-overload]
    output.pop("batch", None)
    return {**item, "output": output}


def test_queued_single_id_tasks_are_coalesced_and_each_gets_its_own_result(
    worker_factory: WorkerFactory, fleet_settings: Settings, broker: redis.Redis
) -> None:
    ids = [(i * 7) % N_ROWS for i in range(400)] + ["x", 99_999]  # repeats and bad IDs too
    app = plain_celery_app(fleet_settings)
    # Everything is queued before the worker starts, so its children find full queues.
    results = [
        app.send_task("modelfleet.predict", args=[i], queue=fleet_settings.queue) for i in ids
    ]
    worker_factory(concurrency=2, env={**REPORTING, "MODELFLEET_MICROBATCH_MAX": "32"})
    items = [r.get(timeout=60) for r in results]

    assert [item["id"] for item in items] == ids
    sizes = [item["output"]["batch"] for item in items if "output" in item]
    assert max(sizes) > 1, "no task was answered in a micro-batch"
    assert max(sizes) <= 32
    assert items[-2]["error"]["type"] == "InvalidInput"
    assert items[-1]["error"]["type"] == "UnknownInput"
    # The same outputs as one predict_batch call over the same IDs.
    reference = app.send_task(
        "modelfleet.predict_batch", args=[ids], queue=fleet_settings.queue
    ).get(timeout=60)
    assert [without_batch(i) for i in items[:-2]] == [without_batch(i) for i in reference[:-2]]
    assert items[-2:] == reference[-2:]
    # Every follower was acknowledged: nothing left behind in kombu's unacked hash or the queue.
    # (The reference task's own ack follows its stored result by a moment: allow for it.)
    deadline = time.monotonic() + 10
    while unacked_here(broker, fleet_settings) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert unacked_here(broker, fleet_settings) == 0
    assert broker.llen(fleet_settings.queue) == 0


def test_tasks_micro_batching_cannot_answer_keep_their_place_and_go_through_celery(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    app = plain_celery_app(fleet_settings)
    app.conf.task_default_queue = fleet_settings.queue
    sent = []
    for i in range(60):
        if i % 5 == 0:
            sent.append((app.send_task("modelfleet.predict_batch", args=[[i, i + 1]]), [i, i + 1]))
        elif i % 5 == 1:
            sent.append((app.send_task("modelfleet.predict", args=[i], expires=600), [i]))
        elif i % 5 == 2:
            sent.append((app.send_task("modelfleet.predict", args=[i], countdown=0.1), [i]))
        else:
            sent.append((app.send_task("modelfleet.predict", args=[i]), [i]))
    worker_factory(concurrency=2, env={**REPORTING, "TEST_CALL_SECONDS": "0.02"})
    for result, ids in sent:
        got = result.get(timeout=60)
        assert [item["id"] for item in (got if isinstance(got, list) else [got])] == ids


def test_micro_batches_grow_past_the_first_size_for_a_model_paying_per_call(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    app = plain_celery_app(fleet_settings)
    app.conf.task_default_queue = fleet_settings.queue
    ids = [i % N_ROWS for i in range(3000)]
    results = [app.send_task("modelfleet.predict", args=[i]) for i in ids]
    # 50 ms per call whatever its size: the children's fit should raise the size to the cap.
    worker_factory(concurrency=2, env=REPORTING)
    items = [r.get(timeout=120) for r in results]
    assert [item["id"] for item in items] == ids
    sizes = [item["output"]["batch"] for item in items]
    assert max(sizes) > FIRST_SIZE, f"micro-batches never grew past {FIRST_SIZE}: {set(sizes)}"
    assert max(sizes) <= 1024


def test_a_taken_task_stays_in_kombus_unacked_hash_until_answered_so_kombu_can_restore_it(
    worker_factory: WorkerFactory, fleet_settings: Settings, broker: redis.Redis
) -> None:
    app = plain_celery_app(fleet_settings)
    app.conf.task_default_queue = fleet_settings.queue
    results = [app.send_task("modelfleet.predict", args=[i]) for i in range(5)]
    # This process takes the tasks as a child would, then "dies" before answering them.
    batcher = MicroBatcher(fleet_settings, backend=None)
    taken = batcher.take(fleet_settings.queue, {}, limit=10)
    assert [f.input_id for f in taken] == list(range(5))
    assert broker.llen(fleet_settings.queue) == 0
    assert unacked_here(broker, fleet_settings) == 5
    # kombu's own restore (what a worker runs after the visibility timeout) requeues them ...
    with Connection(fleet_settings.broker_url) as connection:
        qos = connection.default_channel.qos
        for follower in taken:
            qos.restore_by_tag(follower.delivery_tag)
    assert broker.llen(fleet_settings.queue) == 5
    # ... and a worker answers every one.
    worker_factory(concurrency=1)
    assert [r.get(timeout=60)["id"] for r in results] == list(range(5))


def test_micro_batching_off_answers_each_task_alone(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    app = plain_celery_app(fleet_settings)
    app.conf.task_default_queue = fleet_settings.queue
    results = [app.send_task("modelfleet.predict", args=[i]) for i in range(40)]
    worker_factory(
        concurrency=1,
        env={**REPORTING, "MODELFLEET_MICROBATCH_MAX": "1", "TEST_CALL_SECONDS": "0"},
    )
    items = [r.get(timeout=60) for r in results]
    assert [item["id"] for item in items] == list(range(40))
    assert {item["output"]["batch"] for item in items} == {1}


def test_submit_each_sends_one_task_per_id_and_reads_results_back_in_order(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    from producer import FleetExecutor

    worker_factory(concurrency=2, env={"MODELFLEET_MODEL": "forest"})
    ids = list(range(N_ROWS))[::-3]
    with FleetExecutor(fleet_settings) as executor:
        each = list(executor.submit_each(ids).results(timeout=90))
        mapped = list(executor.map(ids, timeout=90))
    assert [item["id"] for item in each] == ids
    assert each == mapped
