"""Jobs kept in Redis, not in the producer's memory: any machine can follow one after it exits.

At submit time the job's task IDs and batches go to the result backend, under
``<MODELFLEET_KEY_PREFIX>job:<id>``, and expire with the results (``MODELFLEET_RESULT_EXPIRES``).
Progress is read from the result keys themselves, so no worker needs to know about jobs.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery, states

from worker_config import keys
from worker_config.contract import ResultItem
from worker_config.errors import ModelfleetError
from worker_config.settings import Settings

if TYPE_CHECKING:
    from producer.executor import Job

#: Result keys read per round trip when a job's progress is counted.
READ_WINDOW = 500


class UnknownJob(ModelfleetError):
    """No job with this ID: never created here, or expired with its results."""


@dataclass
class JobProgress:
    """Item counts of a job: done (an output), failed (an error item) and still pending."""

    job_id: str
    total: int
    done: int
    failed: int
    tasks: int
    tasks_finished: int
    created: float

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed

    @property
    def complete(self) -> bool:
        return self.tasks_finished == self.tasks


def job_keys(settings: Settings, job_id: str) -> tuple[str, str, str]:
    """The job's metadata hash, its task-ID list and its batch list (JSON, one per task)."""
    return keys.job(settings, job_id)


def _client(app: Celery) -> Any:
    return app.backend.client  # type: ignore[attr-defined]


def record_job(settings: Settings, job: Job) -> Job:
    """Give ``job`` an ID and store it in the result backend in one round trip."""
    job.id = uuid.uuid4().hex
    meta, tasks, batches = job_keys(settings, job.id)
    job.record_key = meta
    with _client(job.app).pipeline(transaction=False) as pipe:
        pipe.hset(
            meta, mapping={"size": job.size, "tasks": len(job.task_ids), "created": time.time()}
        )
        if job.task_ids:
            pipe.rpush(tasks, *job.task_ids)
            pipe.rpush(batches, *(json.dumps(b) for b in job.batches))
        for key in (meta, tasks, batches):
            pipe.expire(key, settings.result_expires)
        pipe.execute()
    return job


def load_job(settings: Settings, app: Celery, job_id: str) -> tuple[Job, float]:
    """The job stored under ``job_id`` and its creation time; raise :class:`UnknownJob`."""
    from producer.executor import Job

    meta_key, tasks_key, batches_key = job_keys(settings, job_id)
    with _client(app).pipeline(transaction=False) as pipe:
        pipe.hgetall(meta_key)
        pipe.lrange(tasks_key, 0, -1)
        pipe.lrange(batches_key, 0, -1)
        meta, task_ids, batches = pipe.execute()
    if not meta:
        raise UnknownJob(
            f"no job {job_id!r} in {keys.jobs_pattern(settings)}: it never existed here or expired "
            f"with its results (MODELFLEET_RESULT_EXPIRES={settings.result_expires}s)"
        )
    job = Job(app, [json.loads(b) for b in batches], [t.decode() for t in task_ids])
    job.id = job_id
    return job, float(meta[b"created"])


def keep_alive(settings: Settings, app: Celery, job_id: str) -> None:
    """A job still running must not expire before its last results."""
    with _client(app).pipeline(transaction=False) as pipe:
        for key in job_keys(settings, job_id):
            pipe.expire(key, settings.result_expires)
        pipe.execute()


def finished_batches(job: Job) -> dict[int, list[ResultItem]]:
    """Items of every task that has finished, by batch index; tasks still running are absent."""
    backend: Any = job.app.backend
    found: dict[int, list[ResultItem]] = {}
    for start in range(0, len(job.task_ids), READ_WINDOW):
        window = job.task_ids[start : start + READ_WINDOW]
        values = backend.client.mget([backend.get_key_for_task(t) for t in window])
        for offset, raw in enumerate(values):
            meta = backend.decode_result(raw) if raw is not None else None
            if meta is not None and meta["status"] in states.READY_STATES:
                found[start + offset] = job._items(start + offset, meta)
    return found


def progress(job: Job, created: float, finished: dict[int, list[ResultItem]]) -> JobProgress:
    items = [item for batch in finished.values() for item in batch]
    failed = sum("error" in item for item in items)
    return JobProgress(
        job_id=job.id,
        total=job.size,
        done=len(items) - failed,
        failed=failed,
        tasks=len(job.task_ids),
        tasks_finished=len(finished),
        created=created,
    )


def items_in_order(
    job: Job, finished: dict[int, list[ResultItem]], errors_only: bool = False
) -> Iterator[ResultItem]:
    """Finished items in input order; unfinished batches are skipped (partial results)."""
    for index in range(len(job.batches)):
        for item in finished.get(index, ()):
            if not errors_only or "error" in item:
                yield item
