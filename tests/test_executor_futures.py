"""FleetExecutor is a concurrent.futures.Executor: map(fn, ids), submit, cancel, shutdown."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from producer import FleetExecutor, predict
from producer.local.worker import LocalWorker
from tests.conftest import WorkerFactory, settings_for, wait_until


def test_map_takes_a_function_like_a_process_pool_and_gives_bad_ids_error_items(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    with FleetExecutor(settings_for(fleet_env)) as ex:
        assert isinstance(ex, concurrent.futures.Executor)
        items = list(ex.map(predict, [0, 1.5, 2, True, "3"], timeout=60))
        assert [item["id"] for item in items] == [0, "1.5", 2, "True", "3"]  # as on the wire
        assert [item.get("error", {}).get("type") for item in items] == [
            None, "InvalidId", None, "InvalidId", None
        ]  # fmt: skip
        assert [i["id"] for i in ex.map("digits", range(5), timeout=60)] == list(range(5))
        assert [i["id"] for i in ex.map([7, 8], timeout=60)] == [7, 8]  # the old form
        with pytest.raises(TypeError, match="runs the model its workers serve"):
            ex.map(lambda x: x, [1])
        with pytest.raises(TypeError, match="one ID per call"):
            ex.map(predict, [1], [2])


def test_submit_returns_a_future_of_one_item(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    with FleetExecutor(settings_for(fleet_env)) as ex:
        futures = {ex.submit(i): i for i in range(6)}
        futures[ex.submit(predict, 10)] = 10
        for future in concurrent.futures.as_completed(futures, timeout=60):
            assert future.result()["id"] == futures[future]
            assert "label" in future.result()["output"]
        bad = ex.submit(2.5)
        assert bad.done() and bad.result()["error"]["type"] == "InvalidId"
    with pytest.raises(RuntimeError, match="after shutdown"):
        ex.submit(1)


def test_shutdown_with_cancel_futures_revokes_tasks_that_have_not_started(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    settings = settings_for(fleet_env)
    worker = worker_factory(concurrency=1)
    ex = FleetExecutor(settings)
    # The worker stops taking tasks from the queue, so the ones submitted now wait there.
    ex.app.control.cancel_consumer(settings.queue, destination=[worker.hostname], reply=True)
    futures = [ex.submit(i) for i in range(3)]
    task_ids = [ex._futures._pending[f].task_ids[0] for f in futures]
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in futures)

    with FleetExecutor(settings) as other:
        other.app.control.add_consumer(settings.queue, destination=[worker.hostname], reply=True)
        broker = other.app.connection().default_channel.client
        wait_until(lambda: broker.llen(settings.queue) == 0, 30, "the queue drained")
        time.sleep(1)  # the worker discards revoked tasks as it receives them
        states = {other.app.AsyncResult(t).state for t in task_ids}
        assert states <= {"REVOKED", "PENDING"} and "SUCCESS" not in states, states
        # The worker still serves what is sent afterwards.
        assert next(other.map([5], timeout=60))["id"] == 5
