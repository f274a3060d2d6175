"""Task events, published in batches by the worker parent (celery_ext/event_batch.py), still
reach a plain Celery event receiver, every one of them, including those of a stopping worker."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

from celery import Celery

from producer import FleetExecutor
from tests.conftest import WorkerFactory, wait_until
from worker_config.settings import Settings

TASK_EVENTS = ("task-received", "task-started", "task-succeeded")


class Captured:
    """Every task event on the broker, by task ID, from a Receiver in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.app = Celery("event-watcher", broker=settings.broker_url)
        self.by_task: dict[str, list[str]] = defaultdict(list)
        self.first_seen: dict[tuple[str, str], float] = {}
        self.ready = threading.Event()
        self._receiver: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "test-probe":
            self.ready.set()
        if event.get("uuid"):
            self.by_task[event["uuid"]].append(event["type"])
            self.first_seen.setdefault((event["uuid"], event["type"]), time.monotonic())

    def _run(self) -> None:
        with self.app.connection_for_read() as connection:
            self._receiver = self.app.events.Receiver(connection, handlers={"*": self._on_event})
            self._receiver.capture(limit=None, timeout=None, wakeup=False)

    def __enter__(self) -> Captured:
        """Start capturing; return once a probe event was received, so none is missed after."""
        self._thread.start()
        with self.app.connection_for_write() as connection:
            dispatcher = self.app.events.Dispatcher(connection)
            deadline = time.monotonic() + 10
            while not self.ready.wait(0.2):
                assert time.monotonic() < deadline, "the event receiver did not subscribe"
                dispatcher.send("test-probe")
        return self

    def __exit__(self, *_: object) -> None:
        if self._receiver is not None:
            self._receiver.should_stop = True
        self._thread.join(timeout=10)

    def complete(self, task_ids: list[str]) -> bool:
        return all(all(t in self.by_task[i] for t in TASK_EVENTS) for i in task_ids)


def test_every_task_event_reaches_a_receiver_even_from_a_worker_stopped_at_once(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    worker = worker_factory(env={"MODELFLEET_MICROBATCH_MAX": "1"})  # followers send none
    with Captured(fleet_settings) as events, FleetExecutor(fleet_settings) as executor:
        job = executor.submit_each(list(range(300)))
        assert len(list(job.results(timeout=90))) == 300
        worker.stop(timeout=30)  # right after the last result: its events may still be buffered
        wait_until(lambda: events.complete(job.task_ids), 10, "every task's events arrived")
        for task_id in job.task_ids:
            seen = [t for t in events.by_task[task_id] if t in TASK_EVENTS]
            assert seen == list(TASK_EVENTS), f"{task_id}: {seen}"


def test_a_lone_task_s_events_are_not_held_back_for_long(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    worker_factory(env={"MODELFLEET_MICROBATCH_MAX": "1"})
    with Captured(fleet_settings) as events, FleetExecutor(fleet_settings) as executor:
        job = executor.submit_each([7])
        list(job.results(timeout=30))
        done = time.monotonic()
        wait_until(lambda: events.complete(job.task_ids), 5, "the task's events arrived")
        late = events.first_seen[(job.task_ids[0], "task-succeeded")] - done
        # 20 ms of batching; the margin is for a loaded CI machine.
        assert late < 1.5, f"task-succeeded arrived {late:.2f}s after the result"
