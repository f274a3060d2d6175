"""Reading a job back while its results trickle in one at a time (one task per ID) fetches a
small window of keys per poll, not the whole POLL_WINDOW, and still yields every item in order."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from celery import states

from producer.connection import client_app
from producer.jobs import POLL_WINDOW, POLL_WINDOW_MIN, Job
from producer.local.embedded_redis import RedisServer
from worker_config.contract import InputId, ResultItem
from worker_config.settings import Settings


class CountingJob(Job):
    """A real job that notes how many result keys each poll asked Redis for."""

    asked: list[int]

    def fetch(self, indices: list[int]) -> dict[int, list[ResultItem]]:
        self.asked.append(len(indices))
        return super().fetch(indices)


def test_trickling_results_are_polled_in_small_windows_and_come_back_in_order(
    redis_server: RedisServer,
) -> None:
    settings = Settings(
        CELERY_BROKER_URL=redis_server.url(0), CELERY_RESULT_BACKEND=redis_server.url(1)
    )
    app = client_app(settings)
    n = 3 * POLL_WINDOW
    ids: list[InputId] = list(range(n))
    job = CountingJob(app, [[i] for i in ids], [str(uuid.uuid4()) for _ in ids])
    job.asked = []
    backend: Any = app.backend

    def store() -> None:
        for i, task_id in enumerate(job.task_ids):
            meta = {"status": states.SUCCESS, "result": {"id": i, "output": {}}, "task_id": task_id}
            backend.client.set(backend.get_key_for_task(task_id), backend.encode(meta))
            time.sleep(0.001)

    writer = threading.Thread(target=store)
    writer.start()
    items = list(job.results(timeout=120))
    writer.join()
    app.close()
    assert items == [{"id": i, "output": {}} for i in ids]
    assert job.asked[0] == POLL_WINDOW
    later = job.asked[len(job.asked) // 2 :]
    assert max(later) <= 8 * POLL_WINDOW_MIN, later  # grows only with what a poll finds
