"""``modelfleet job ID --resume``: send the tasks of a job that its producer did not send.

A job is recorded with its batches and pre-chosen task IDs before its first task is sent, so a
producer killed mid-send leaves a record of everything it meant to send. Resuming sends, under
the same task IDs, each task that has no result and is neither queued nor unacknowledged (held
by a worker): each ID is answered once, whether or not the dead producer sent its task.
"""

from __future__ import annotations

import json
import time
from typing import Any

from celery import Celery

from producer.executor import FleetExecutor
from producer.jobs import job_keys, load_job, mark_sent
from worker_config import clients, keys
from worker_config.routing import model_queue
from worker_config.settings import Settings

#: Seconds between the two looks for a task before it is sent again.
RECHECK_SECONDS = 0.5


def in_flight(settings: Settings, queue: str) -> set[str]:
    """Task IDs queued on ``queue`` or held unacknowledged by any worker."""
    broker = clients.broker(settings)
    try:
        raws: list[Any] = []
        for name in keys.queue_lists(settings, queue):
            raws += broker.lrange(name, 0, -1)
        held = broker.hvals(keys.unacked(settings))
    finally:
        broker.close()
    found = set()
    for raw in raws:
        found.add(_task_id(json.loads(raw)))
    for raw in held:
        found.add(_task_id(json.loads(raw)[0]))
    return {task_id for task_id in found if task_id}


def _task_id(message: Any) -> str:
    try:
        return str(message["headers"]["id"])
    except (KeyError, TypeError):
        return ""


def resume(settings: Settings, app: Celery, job_id: str) -> tuple[int, int]:
    """Send the job's unsent tasks; return (tasks sent now, tasks in the job)."""
    job, _ = load_job(settings, app, job_id)
    backend: Any = app.backend
    meta = backend.client.hgetall(job_keys(settings, job_id)[0])
    model = meta.get(b"model", b"").decode() or None
    queue = model_queue(settings, model)
    todo = list(range(len(job.task_ids)))
    # A worker holds a message only in memory between taking it from the queue and recording
    # it as unacknowledged: a task is sent again only if two looks, RECHECK_SECONDS apart,
    # both find it nowhere (no result, not queued, not held).
    for look in range(2):
        if look:
            time.sleep(RECHECK_SECONDS)
        ids = [job.task_ids[i] for i in todo]
        stored = backend.client.mget([backend.get_key_for_task(t) for t in ids]) if ids else []
        pending = in_flight(settings, queue)
        todo = [
            i
            for i, task_id, result in zip(todo, ids, stored, strict=True)
            if result is None and task_id not in pending
        ]
    if todo:
        executor = FleetExecutor(settings, model=model)
        executor.send_planned([job.batches[i] for i in todo], [job.task_ids[i] for i in todo])
    mark_sent(settings, app, job_id)
    return len(todo), len(job.task_ids)
