"""``FleetExecutor``: the ``ProcessPoolExecutor.map`` pattern, with a fleet of workers behind it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import redis
from celery import Celery, states
from kombu.exceptions import (  # type: ignore[attr-defined]  # celery-types predates it
    BatchPublishError,
    OperationalError,
)

from producer.batching import plan_batches
from producer.connection import check_reachable, client_app, redact
from producer.jobs import record_job
from worker_config.contract import (
    PREDICT,
    PREDICT_BATCH,
    InputId,
    ResultItem,
    error_item,
    validate_id,
)
from worker_config.errors import BrokerUnreachable, ModelfleetError
from worker_config.records import costs
from worker_config.routing import default_model, model_queue
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]

#: Seconds between result polls: short while results flow, backing off (x POLL_GROWTH) while
#: none arrive. Starting at 0.5 ms keeps a single ID's round trip within about 1 ms of Celery's
#: pub/sub (doubling from 2 ms made it wait for the 6 ms poll); one poll is one MGET.
POLL_MIN, POLL_MAX, POLL_GROWTH = 0.0005, 0.01, 1.5
#: Result keys fetched per poll, earliest tasks first.
POLL_WINDOW = 500
#: Task messages sent per Redis round trip.
SEND_CHUNK = 1000
#: Seconds a producer keeps re-sending a chunk while Redis is away, and the pause between tries.
SEND_RETRY_SECONDS, SEND_RETRY_INTERVAL = 30.0, 0.5
#: Seconds between checks, while no result arrives, that the job has not expired.
EXPIRY_CHECK = 5.0


class JobTimeout(ModelfleetError, TimeoutError):
    """Waiting for a job's results took longer than the timeout; the work goes on."""


class JobExpired(ModelfleetError):
    """The job's record expired with its results before they all arrived; waiting is useless."""


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
        keys = [backend.get_key_for_task(t) for t in self.task_ids]
        pending = [i for i in range(len(self.batches)) if i not in self._results]
        next_batch, delay = 0, POLL_MIN
        next_expiry_check = time.monotonic() + EXPIRY_CHECK
        while True:
            while next_batch in self._results:
                yield from self._results.pop(next_batch)
                next_batch += 1
            if next_batch >= len(self.batches):
                return
            window = pending[:POLL_WINDOW]
            try:
                values = backend.client.mget([keys[i] for i in window])
            except redis.ConnectionError:
                values = [None] * len(window)  # Redis is restarting; keep waiting
            finished = set()
            for i, raw in zip(window, values, strict=True):
                meta = backend.decode_result(raw) if raw is not None else None
                if meta is not None and meta["status"] in states.READY_STATES:
                    self._results[i] = self._items(i, meta)
                    finished.add(i)
                    if on_progress:
                        on_progress(len(self.batches[i]))
            if finished:
                pending = [i for i in pending if i not in finished]
                delay = POLL_MIN
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


class FleetExecutor:
    """Map input IDs over the fleet; results come back in input order, one item per ID.

    Reads ``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND`` and ``MODELFLEET_*`` like the workers.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        batch_size: int | None = None,
        model: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.batch_size = batch_size
        #: The model asked for: its own queue ``<queue>.<model>``; None is the plain queue.
        self.model = model
        self.app = client_app(self.settings)
        self._checked = False

    def submit_batches(self, ids: Iterable[object], batch_size: int | None = None) -> Job:
        """Validate the IDs and send them as ``modelfleet.predict_batch`` tasks."""
        valid = [validate_id(x) for x in ids]
        if not self._checked:
            check_reachable(self.settings)
            self._checked = True
        batches = self._plan(valid, batch_size or self.batch_size)
        task_ids = self._send(PREDICT_BATCH, batches)
        return record_job(self.settings, Job(self.app, batches, task_ids))

    def submit_each(self, ids: Iterable[object]) -> Job:
        """Send one ``modelfleet.predict`` task per ID, as many independent producers would.

        Workers coalesce queued single-ID tasks into micro-batches (``MODELFLEET_MICROBATCH_*``);
        ``map`` is still cheaper when one producer has all the IDs.
        """
        valid = [validate_id(x) for x in ids]
        if not self._checked:
            check_reachable(self.settings)
            self._checked = True
        batches = [[x] for x in valid]
        task_ids = self._send(PREDICT, [[x] for x in valid], one_each=True)
        return Job(self.app, batches, task_ids)

    def _plan(self, ids: list[InputId], batch_size: int | None) -> list[list[InputId]]:
        """Batches sized from the fleet's measured cost per item (see ``producer/batching.py``)."""
        limit = self.settings.max_batch
        if batch_size:
            return plan_batches(ids, limit, batch_size=batch_size)
        model = self.model or default_model(self.settings)
        try:
            backend: Any = self.app.backend
            measured = costs.read(backend.client, self.settings, model)
        except redis.RedisError:
            measured = costs.FleetCosts(None, 0)
        children = max(measured.children, self.settings.worker_concurrency)
        return plan_batches(ids, limit, children=children, per_item=measured.per_item)

    def _send(self, task: str, batches: list[list[InputId]], one_each: bool = False) -> list[str]:
        """Publish every task through one pipelined Redis connection, in chunks."""
        task_ids = [str(uuid.uuid4()) for _ in batches]
        for start in range(0, len(batches), SEND_CHUNK):
            chunk = slice(start, start + SEND_CHUNK)
            self._send_chunk(task, batches[chunk], task_ids[chunk], one_each)
        return task_ids

    def _send_chunk(
        self, task: str, batches: list[list[InputId]], task_ids: list[str], one_each: bool
    ) -> None:
        """One pipelined round trip; while Redis is away, the same messages are sent again.

        A chunk cut off mid-send has an uncertain outcome (kombu's ``BatchPublishError``), so
        it is sent again whole, under the same task IDs: a message that did arrive twice runs
        twice and stores the same result, and the producer reads each task ID once.
        """
        queue = model_queue(self.settings, self.model)
        kwargs = {"model": self.model} if self.model else {}
        deadline = time.monotonic() + SEND_RETRY_SECONDS
        while True:
            try:
                with (
                    self.app.producer_or_acquire() as producer,
                    producer.batch(max_size=SEND_CHUNK),
                ):
                    for batch, task_id in zip(batches, task_ids, strict=True):
                        self.app.send_task(
                            task,
                            args=[batch[0] if one_each else batch],
                            kwargs=kwargs,
                            queue=queue,
                            task_id=task_id,
                            producer=producer,
                        )
                return
            except (BatchPublishError, OperationalError, redis.ConnectionError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise BrokerUnreachable(
                        f"could not send to {redact(self.settings.broker_url)} for "
                        f"{SEND_RETRY_SECONDS:g}s ({exc}); the IDs of this job were not all sent"
                    ) from exc
                logger.warning("sending to the broker failed (%s); sending again", exc)
                time.sleep(SEND_RETRY_INTERVAL)

    def map(
        self,
        ids: Iterable[object],
        *,
        timeout: float | None = None,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[ResultItem]:
        """Like ``Executor.map``: everything is sent now, results are yielded in input order.

        Raises :class:`JobTimeout` (a ``TimeoutError``) if ``timeout`` seconds pass first.
        """
        job = self.submit_batches(ids, batch_size)
        return job.results(timeout=timeout, on_progress=on_progress)

    def shutdown(self, wait: bool = True) -> None:
        self.app.close()

    def __enter__(self) -> FleetExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
