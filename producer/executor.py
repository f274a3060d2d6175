"""``FleetExecutor``: the ``ProcessPoolExecutor.map`` pattern, with a fleet of workers behind it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from types import TracebackType
from typing import Any, TypeVar, cast

import redis
from kombu.exceptions import OperationalError

from producer import wire
from producer.batching import plan_batches
from producer.connection import check_reachable, client_app, redact
from producer.futures import FuturePoller
from producer.jobs import Job, ProgressCallback, mark_sent, record_job
from producer.served import warn_if_unserved
from producer.sink_jobs import SinkProgress, SinkResult
from worker_config import clients, replication
from worker_config.contract import (
    PREDICT,
    PREDICT_BATCH,
    InputId,
    ResultItem,
    error_item,
    validate_id,
    validate_ids,
)
from worker_config.cost_model import fit
from worker_config.errors import BrokerUnreachable, InvalidId
from worker_config.records import costs
from worker_config.routing import default_model, model_queue
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Task messages sent per Redis round trip.
SEND_CHUNK = 1000
#: Seconds a producer keeps re-sending a chunk while Redis is away, and the pause between tries.
SEND_RETRY_SECONDS, SEND_RETRY_INTERVAL = 30.0, 0.5


def predict(input_id: object) -> ResultItem:
    """Stands for the fleet's model in ``ex.map(predict, ids)`` and ``ex.submit(predict, id)``.

    Code written for ``ProcessPoolExecutor.map(predict, ids)`` then reads the same; the workers
    run the model they serve, so calling this function itself is a mistake.
    """
    raise TypeError("producer.predict only names the fleet's model in FleetExecutor.map/submit")


class FleetExecutor(Executor):
    """Map input IDs over the fleet; results come back in input order, one item per ID.

    A ``concurrent.futures.Executor``: ``map(ids)`` or ``map(fn, ids)``, ``submit(id)`` or
    ``submit(fn, id)``, where ``fn`` is :func:`predict` or a model name (the workers run the
    model, not a function of yours). An invalid ID gets an ``InvalidId`` error item in its place,
    as on the wire. Reads ``CELERY_BROKER_URL``, ``CELERY_RESULT_BACKEND`` and ``MODELFLEET_*``
    like the workers.
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
        warn_if_unserved(self.settings, model)  # now, not after a timeout
        self.app = client_app(self.settings)
        self._checked = False
        self._futures = FuturePoller(self._revoke)
        self._shut = False

    def submit_batches(self, ids: Iterable[object], batch_size: int | None = None) -> Job:
        """Validate the IDs and send them as ``modelfleet.predict_batch`` tasks."""
        valid = validate_ids(ids)
        if not self._checked:
            check_reachable(self.settings)
            self._checked = True
        batches = self._plan(valid, batch_size or self.batch_size)
        # Recorded before the first send, with its task IDs: a producer killed mid-send leaves
        # a job that `modelfleet job ID --resume` completes under the same IDs (resume.py).
        task_ids = wire.new_task_ids(len(batches))
        job = self._while_redis_is_away(
            lambda: record_job(self.settings, Job(self.app, batches, task_ids), model=self.model),
            "the job was not recorded and nothing was sent",
        )
        self.send_planned(batches, task_ids)
        self._while_redis_is_away(
            lambda: mark_sent(self.settings, self.app, job.id), "the job is not marked sent"
        )
        return job

    def send_planned(self, batches: list[list[InputId]], task_ids: list[str]) -> None:
        """Send ``modelfleet.predict_batch`` tasks under task IDs chosen beforehand."""
        self._send(PREDICT_BATCH, batches, task_ids=task_ids)

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
        """Batches sized from the fleet's fitted cost curve (``worker_config/cost_model.py``)."""
        limit = self.settings.max_batch
        if batch_size:
            return plan_batches(ids, limit, batch_size=batch_size)
        model = self.model or default_model(self.settings)
        try:
            backend: Any = self.app.backend
            measured = costs.read(backend.client, self.settings, model)
        except redis.RedisError:
            measured = costs.FleetCosts([], 0)
        children = max(measured.children, self.settings.worker_concurrency)
        return plan_batches(ids, limit, children=children, cost=fit(measured.samples))

    def _send(
        self,
        task: str,
        batches: list[list[InputId]],
        one_each: bool = False,
        task_ids: list[str] | None = None,
    ) -> list[str]:
        """Publish every task in chunks, one Redis round trip each (``producer/wire.py``)."""
        task_ids = task_ids if task_ids is not None else wire.new_task_ids(len(batches))
        env = wire.envelope(
            self.settings,
            task,
            model_queue(self.settings, self.model),
            reply_to=self.app.thread_oid,
            kwargs={"model": self.model} if self.model else None,
        )
        for start in range(0, len(batches), SEND_CHUNK):
            chunk = slice(start, start + SEND_CHUNK)
            args = [b if one_each else [b] for b in batches[chunk]]  # one-ID batches: [id]
            self._send_chunk(env, task_ids[chunk], args)
        return task_ids

    def _send_chunk(self, env: wire.Envelope, task_ids: list[str], args: list[list[Any]]) -> None:
        """One round trip; while Redis is away, the same messages are sent again.

        A chunk cut off mid-send has an uncertain outcome, so it is sent again whole, under the
        same task IDs: a message that did arrive twice runs twice and stores the same result,
        and the producer reads each task ID once.
        """

        def push() -> None:
            wire.push(clients.broker(self.settings), env, task_ids, args)
            # MODELFLEET_REPLICA_ACKS: sent only once replicas have it (replication.py).
            replication.confirm(clients.broker(self.settings), self.settings)

        self._while_redis_is_away(push, "the IDs of this job were not all sent")

    def _while_redis_is_away(self, action: Callable[[], T], unfinished: str) -> T:
        """``action()``, tried again for :data:`SEND_RETRY_SECONDS` while Redis restarts."""
        deadline = time.monotonic() + SEND_RETRY_SECONDS
        while True:
            try:
                return action()
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise BrokerUnreachable(
                        f"could not send to {redact(self.settings.broker_url)} for "
                        f"{SEND_RETRY_SECONDS:g}s ({exc}); {unfinished}"
                    ) from exc
                logger.warning("sending to the broker failed (%s); sending again", exc)
                time.sleep(SEND_RETRY_INTERVAL)

    def map(  # type: ignore[override]  # ids first, or (fn, ids): see the class docstring
        self,
        fn_or_ids: Any,
        *iterables: Iterable[object],
        timeout: float | None = None,
        chunksize: int = 1,
        batch_size: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Iterator[ResultItem]:
        """Like ``Executor.map``: everything is sent now, results are yielded in input order.

        ``chunksize`` is accepted for ``ProcessPoolExecutor`` code and ignored: batches are sized
        from the fleet's measured cost (``batch_size=`` to fix it). Raises :class:`JobTimeout`
        (a ``TimeoutError``) if ``timeout`` seconds pass first.
        """
        ids = self._ids_of(fn_or_ids, iterables)
        raw = list(ids)
        placed: dict[int, ResultItem] = {}
        try:
            valid = validate_ids(raw)  # all valid: one pass, in C for plain ints
        except InvalidId:  # some are not: each of those gets its error item in place
            valid = []
            for i, value in enumerate(raw):
                try:
                    valid.append(validate_id(value))
                except InvalidId as exc:
                    placed[i] = error_item(value, exc)
        if not placed:
            return self.submit_batches(valid, batch_size).results(
                timeout=timeout, on_progress=on_progress
            )
        sent = (
            self.submit_batches(valid, batch_size).results(timeout=timeout, on_progress=on_progress)
            if valid
            else None
        )
        return (placed[i] if i in placed else next(sent) for i in range(len(raw)))  # type: ignore[arg-type]

    def map_to_sink(
        self,
        ids: Iterable[object],
        sink: str,
        *,
        batch_size: int | None = None,
        job_id: str | None = None,
        on_progress: Callable[[SinkProgress], None] | None = None,
    ) -> SinkResult:
        """Predict every ID into a Parquet data set at the fsspec URL ``sink``; wait for it.

        IDs are read lazily in chunks of ``batch_size`` (``MODELFLEET_SINK_CHUNK``), each written
        by a worker as one part; Redis keeps one receipt per part. Pass the ``job_id`` of a job
        whose producer died, with the same IDs, to send only its chunks without a receipt.
        """
        from producer import streaming

        if not self._checked:
            check_reachable(self.settings)
            self._checked = True
        size = min(
            batch_size or self.batch_size or self.settings.sink_chunk, self.settings.max_batch
        )
        job, counts = streaming.submit(
            self.settings,
            self.app,
            streaming.chunked(ids, size),
            sink,
            chunk_size=size,
            model=self.model,
            job_id=job_id,
            on_progress=on_progress,
        )
        return SinkResult(job.id, sink, counts.rows, counts.errors, counts.parts, counts.failed)

    def submit(  # type: ignore[override]  # a future of one item, not of fn's result
        self, fn_or_id: Any, /, *args: Any, **kwargs: Any
    ) -> Future[ResultItem]:
        """A future of one ID's item: ``submit(id)`` or ``submit(fn, id)``.

        Sends one ``modelfleet.predict`` task. An invalid ID gives a future already done with its
        ``InvalidId`` error item. ``future.cancel()`` revokes the task if it has no result yet.
        """
        if self._shut:
            raise RuntimeError("cannot submit after shutdown")
        if kwargs or len(args) > 1:
            raise TypeError("FleetExecutor.submit takes one ID: submit(id) or submit(fn, id)")
        (value,) = self._ids_of(fn_or_id, (args,)) if args else [fn_or_id]
        try:
            input_id = validate_id(value)
        except InvalidId as exc:
            done: Future[ResultItem] = Future()
            done.set_result(error_item(value, exc))
            return done
        return self._futures.track(self.submit_each([input_id]))

    def _ids_of(self, fn_or_ids: Any, iterables: tuple[Iterable[object], ...]) -> Iterable[object]:
        if not iterables:
            return cast(Iterable[object], fn_or_ids)
        if len(iterables) > 1:
            raise TypeError("the fleet's model takes one ID per call: map(fn, ids), not more")
        if fn_or_ids is predict or fn_or_ids is None:
            return iterables[0]
        if isinstance(fn_or_ids, str) and fn_or_ids == (self.model or default_model(self.settings)):
            return iterables[0]
        raise TypeError(
            f"FleetExecutor runs the model its workers serve, not {fn_or_ids!r}: call map(ids), "
            "map(producer.predict, ids), or map(<model name>, ids) with the executor's model; "
            "FleetExecutor(model=NAME) for another model"
        )

    def _revoke(self, task_id: str) -> None:
        try:
            self.app.control.revoke(task_id)
        except (OperationalError, redis.RedisError, OSError) as exc:
            logger.warning("could not revoke task %s: %s", task_id, exc)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work; ``cancel_futures`` revokes every submitted task without a result."""
        self._shut = True
        if cancel_futures:
            self._futures.cancel_all()
        self._futures.stop(wait)
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
