"""What an operator does to a job: cancel it, send its failed IDs again, find its lost tasks."""

from __future__ import annotations

import time

from celery import Celery

from producer.executor import FleetExecutor
from producer.jobs import Job, job_meta, set_job_meta
from producer.task_presence import missing
from worker_config.contract import InputId, ResultItem
from worker_config.settings import Settings


def unfinished_tasks(job: Job, finished: dict[int, list[ResultItem]]) -> list[int]:
    """Indices of the job's tasks without a result."""
    return [i for i in range(len(job.task_ids)) if i not in finished]


def cancel(settings: Settings, app: Celery, job: Job, unfinished: list[int]) -> int:
    """Revoke every task of ``job`` without a result; mark the job cancelled. How many revoked.

    Workers running now skip a revoked task when they receive it; one already running finishes.
    """
    task_ids = [job.task_ids[i] for i in unfinished]
    if task_ids:
        app.control.revoke(task_ids)
    set_job_meta(settings, app, job.id, cancelled=time.time())
    return len(task_ids)


def lost_tasks(settings: Settings, job: Job, unfinished: list[int]) -> list[int]:
    """Unfinished tasks that are in no queue, held by no worker and have no result: purged."""
    gone = missing(settings, [job.task_ids[i] for i in unfinished])
    return [i for i in unfinished if job.task_ids[i] in gone]


def retry_failed(
    settings: Settings, job: Job, finished: dict[int, list[ResultItem]], lost: list[int]
) -> tuple[str, int]:
    """A new job of the IDs that failed (error items) or were lost, linked to ``job``.

    Returns the new job's ID ("" when nothing failed) and how many IDs it carries.
    """
    ids: list[InputId] = [
        item["id"] for batch in finished.values() for item in batch if "error" in item
    ]
    ids += [x for i in lost for x in job.batches[i]]
    if not ids:
        return "", 0
    with FleetExecutor(settings) as executor:
        new = executor.submit_batches(ids)
    set_job_meta(settings, job.app, new.id, retry_of=job.id)
    set_job_meta(settings, job.app, job.id, retried_as=new.id)
    return new.id, len(ids)


def describe_meta(settings: Settings, app: Celery, job_id: str) -> str:
    """`` cancelled``, `` retried as <id>``, `` retry of <id>``: what was done to the job."""
    meta = job_meta(settings, app, job_id)
    notes = []
    if "cancelled" in meta:
        notes.append("cancelled")
    if "retry_of" in meta:
        notes.append(f"retry of {meta['retry_of']}")
    if "retried_as" in meta:
        notes.append(f"retried as {meta['retried_as']}")
    return f" ({', '.join(notes)})" if notes else ""
