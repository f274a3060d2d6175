"""A job: its batches, the tasks that carry them, and its record in Redis, in one module.

Jobs live in Redis, not in the producer's memory, so any machine can follow one after its
producer exits: at submit time the task IDs and batches go to the result backend under
``<MODELFLEET_KEY_PREFIX>job:<id>`` and expire with the results (``MODELFLEET_RESULT_EXPIRES``).
Progress is read from the result keys themselves, so no worker needs to know about jobs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from celery import Celery, states

from worker_config import keys
from worker_config.contract import InputId, ResultItem, error_item
from worker_config.errors import JobExpired, JobTimeout, UnknownJob
from worker_config.settings import Settings

ProgressCallback = Callable[[int], None]

#: Seconds between result polls: short while results flow, backing off (x POLL_GROWTH) while
#: none arrive. Starting at 0.5 ms keeps a single ID's round trip within about 1 ms of Celery's
#: pub/sub (doubling from 2 ms made it wait for the 6 ms poll); one poll is one MGET.
POLL_MIN, POLL_MAX, POLL_GROWTH = 0.0005, 0.01, 1.5
#: Result keys fetched per poll, earliest tasks first: at most POLL_WINDOW, and after a poll
#: that found n results about 2n (at least POLL_WINDOW_MIN). Results that trickle in one at a
#: time (one task per ID) then cost an MGET of 16 keys per poll, not 500: the producer and Redis
#: spent more CPU per input polling than the worker spent serving it (benchmarks/plain.py).
POLL_WINDOW, POLL_WINDOW_MIN = 500, 16
#: Seconds between checks, while no result arrives, that the job has not expired.
EXPIRY_CHECK = 5.0


@dataclass
class Job:
    """Batches sent to the fleet, in input order, and the tasks that carry them."""

    app: Celery
    batches: list[list[InputId]]
    task_ids: list[str]
    _results: dict[int, list[ResultItem]] = field(default_factory=dict)
    #: Set once the job is recorded in Redis (``modelfleet job <id>``), with the record's key.
    id: str = ""
    record_key: str = ""

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.batches)

    def results(
        self, timeout: float | None = None, on_progress: ProgressCallback | None = None
    ) -> Iterator[ResultItem]:
        """Result items in input order, as soon as each prefix of the job is complete.

        Polls the result keys with MGET, earliest first: one round trip for many tasks, it
        finds results stored before we started waiting, and it survives a Redis restart.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        backend: Any = self.app.backend  # a PollingRedisBackend (see client_app)
        pending = [i for i in range(len(self.batches)) if i not in self._results]
        next_batch, delay, window = 0, POLL_MIN, POLL_WINDOW
        next_expiry_check = time.monotonic() + EXPIRY_CHECK
        while True:
            while next_batch in self._results:
                yield from self._results.pop(next_batch)
                next_batch += 1
            if next_batch >= len(self.batches):
                return
            try:
                finished = self.fetch(pending[:window])
            except redis.ConnectionError:
                finished = {}  # Redis is restarting; keep waiting
            for i, items in finished.items():
                self._results[i] = items
                if on_progress:
                    on_progress(len(self.batches[i]))
            if finished:
                pending = [i for i in pending if i not in finished]
                delay = POLL_MIN
                window = min(POLL_WINDOW, max(POLL_WINDOW_MIN, 2 * len(finished)))
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise self._timeout(timeout, next_batch)
            if self.record_key and time.monotonic() >= next_expiry_check:
                next_expiry_check = time.monotonic() + EXPIRY_CHECK
                if self._expired(backend.client):
                    raise self._expired_error(next_batch)
            time.sleep(
                delay if deadline is None else min(delay, max(0.0, deadline - time.monotonic()))
            )
            delay = min(delay * POLL_GROWTH, POLL_MAX)

    def fetch(self, indices: list[int]) -> dict[int, list[ResultItem]]:
        """Items of the batches at ``indices`` whose task has finished, in one MGET."""
        backend: Any = self.app.backend
        values = backend.client.mget([backend.get_key_for_task(self.task_ids[i]) for i in indices])
        finished = {}
        for i, raw in zip(indices, values, strict=True):
            meta = backend.decode_result(raw) if raw is not None else None
            if meta is not None and meta["status"] in states.READY_STATES:
                finished[i] = self._items(i, meta)
        return finished

    def _items(self, i: int, meta: dict[str, Any]) -> list[ResultItem]:
        ids = self.batches[i]
        status, result = meta.get("status"), meta.get("result")
        if status == "SUCCESS" and isinstance(result, list) and len(result) == len(ids):
            return result
        if status == "SUCCESS" and isinstance(result, dict) and len(ids) == 1:
            return [result]  # a modelfleet.predict task (submit_each)
        if isinstance(result, BaseException):
            return [error_item(x, result) for x in ids]
        message = f"task {self.task_ids[i]} ended {status}: {result!r}"
        return [error_item(x, "TaskFailed", message) for x in ids]

    def _unfinished(self, next_batch: int) -> tuple[list[InputId], list[str]]:
        """IDs without a result yet, and the tasks that carry them."""
        batches = [i for i in range(next_batch, len(self.batches)) if i not in self._results]
        return [x for i in batches for x in self.batches[i]], [self.task_ids[i] for i in batches]

    def _timeout(self, timeout: float | None, next_batch: int) -> JobTimeout:
        ids, tasks = self._unfinished(next_batch)
        later = (
            f"modelfleet job {self.id} --results"
            if self.id
            else f"modelfleet results {' '.join(tasks[:3])}{' ...' if len(tasks) > 3 else ''}"
        )
        return JobTimeout(
            f"timed out after {timeout}s with {len(ids)} of {self.size} IDs unfinished "
            f"({_shown(ids)}); the workers keep going: fetch them later with `{later}`"
        )

    def _expired(self, client: Any) -> bool:
        try:
            return not client.exists(self.record_key)
        except redis.ConnectionError:
            return False  # Redis is restarting: not evidence of expiry

    def _expired_error(self, next_batch: int) -> JobExpired:
        ids, _ = self._unfinished(next_batch)
        return JobExpired(
            f"job {self.id} expired before {len(ids)} of its {self.size} IDs had results "
            f"({_shown(ids)}): results and job records live MODELFLEET_RESULT_EXPIRES seconds; "
            "send those IDs again, and raise MODELFLEET_RESULT_EXPIRES if jobs wait that long"
        )


def _shown(ids: list[InputId]) -> str:
    """The first few IDs, for a message."""
    return ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")


def job_keys(settings: Settings, job_id: str) -> tuple[str, str, str]:
    """The job's metadata hash, its task-ID list and its batch list (JSON, one per task)."""
    return keys.job(settings, job_id)


def _client(app: Celery) -> Any:
    return app.backend.client  # type: ignore[attr-defined]


def record_job(settings: Settings, job: Job, model: str | None = None) -> Job:
    """Give ``job`` an ID and store it in the result backend in one round trip (with the model
    it was sent to, so ``--resume`` sends the rest to the same queue)."""
    job.id = uuid.uuid4().hex
    meta, tasks, batches = job_keys(settings, job.id)
    job.record_key = meta
    with _client(job.app).pipeline(transaction=False) as pipe:
        pipe.hset(
            meta,
            mapping={
                "size": job.size,
                "tasks": len(job.task_ids),
                "created": time.time(),
                "model": model or "",
            },
        )
        if job.task_ids:
            pipe.rpush(tasks, *job.task_ids)
            pipe.rpush(batches, *(orjson.dumps(b) for b in job.batches))  # JSON, 8x faster
        for key in (meta, tasks, batches):
            pipe.expire(key, settings.result_expires)
        _index(pipe, settings, job.id)
        pipe.execute()
    return job


def mark_sent(settings: Settings, app: Celery, job_id: str) -> None:
    """Note that every task of the job was sent: from then on a task found nowhere is lost,
    not merely unsent by a producer that died (``modelfleet job ID --resume`` sends those)."""
    _client(app).hset(job_keys(settings, job_id)[0], "sent", time.time())


def fully_sent(settings: Settings, app: Celery, job_id: str) -> bool:
    """Whether the job's producer (or a ``--resume``) finished sending its tasks."""
    return bool(_client(app).hexists(job_keys(settings, job_id)[0], "sent"))


#: Jobs ``modelfleet jobs`` keeps in its index; older ones are trimmed as new ones arrive.
INDEX_LIMIT = 10_000


def _index(pipe: Any, settings: Settings, job_id: str) -> None:
    """Add the job to the index of recent jobs; drop what expired or is beyond the limit."""
    index, now = keys.jobs_index(settings), time.time()
    pipe.zadd(index, {job_id: now})
    pipe.zremrangebyscore(index, "-inf", now - settings.result_expires)
    pipe.zremrangebyrank(index, 0, -INDEX_LIMIT - 1)
    pipe.expire(index, settings.result_expires)


def recent_jobs(settings: Settings, app: Celery, limit: int) -> list[str]:
    """IDs of the most recent jobs, newest first."""
    raw = _client(app).zrevrange(keys.jobs_index(settings), 0, limit - 1)
    return [x.decode() if isinstance(x, bytes) else str(x) for x in raw]


def forget_job(settings: Settings, app: Celery, job_id: str) -> None:
    """Drop an expired job from the index."""
    _client(app).zrem(keys.jobs_index(settings), job_id)


def job_meta(settings: Settings, app: Celery, job_id: str) -> dict[str, str]:
    """The job's metadata hash (size, tasks, created, and cancelled / retried_as / retry_of)."""
    raw = _client(app).hgetall(job_keys(settings, job_id)[0])
    return {k.decode(): v.decode() for k, v in raw.items()}


def set_job_meta(settings: Settings, app: Celery, job_id: str, **values: str | float) -> None:
    _client(app).hset(job_keys(settings, job_id)[0], mapping=values)


def load_job(settings: Settings, app: Celery, job_id: str) -> tuple[Job, float]:
    """The job stored under ``job_id`` and its creation time; raise :class:`UnknownJob`."""
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
    job = Job(app, [orjson.loads(b) for b in batches], [t.decode() for t in task_ids])
    job.id = job_id
    return job, float(meta[b"created"])


def keep_alive(settings: Settings, app: Celery, job_id: str) -> None:
    """A job still running must not expire before its last results."""
    with _client(app).pipeline(transaction=False) as pipe:
        for key in job_keys(settings, job_id):
            pipe.expire(key, settings.result_expires)
        pipe.execute()
