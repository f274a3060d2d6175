"""Streaming a sink job: IDs in chunks, a bounded number of tasks in flight, receipts counted.

The producer never holds more than one chunk of IDs plus the task IDs in flight, and the broker
never holds more than ``MODELFLEET_SINK_TASKS_PER_CHILD`` waiting tasks per live worker child,
however large the job: it sends the next chunk only when an earlier one has its receipt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from producer import sink_jobs
from producer.id_files import IdFile
from producer.sink_jobs import SinkJob, SinkProgress
from worker_config.contract import PREDICT_TO_SINK, InputId, validate_id
from worker_config.errors import BrokerUnreachable, NotResumable
from worker_config.records import costs
from worker_config.routing import default_model, model_queue
from worker_config.settings import Settings
from worker_config.sinks import parts

logger = logging.getLogger(__name__)

#: Seconds between looks at how many children the fleet has (it sizes the in-flight bound).
CHILDREN_CHECK = 5.0
#: Seconds between receipt polls while the in-flight bound is reached (backing off to the max).
POLL_MIN, POLL_MAX = 0.005, 0.2
#: Seconds a send keeps retrying while the broker is away.
SEND_RETRY_SECONDS = 30.0

Progress = Callable[[SinkProgress], None]


def chunked(ids: Iterable[object], size: int) -> Iterator[list[InputId]]:
    """Validated IDs in lists of ``size``, read lazily."""
    it = iter(ids)
    while chunk := [validate_id(x) for x in islice(it, size)]:
        yield chunk


class SinkSender:
    """Sends one sink job's chunks with back-pressure and waits for their receipts."""

    def __init__(self, settings: Settings, app: Celery, job: SinkJob) -> None:
        self.settings, self.app, self.job = settings, app, job
        self.counts = SinkProgress()
        self.in_flight: dict[int, str] = {}
        self._children, self._children_at = 0, 0.0

    def run(
        self, chunks: Iterable[list[InputId]], done: set[int], on_progress: Progress | None = None
    ) -> SinkProgress:
        """Send every chunk whose index is not in ``done``; return the counts of this run."""
        index, n_ids = -1, 0
        for index, chunk in enumerate(chunks):
            n_ids += len(chunk)
            if index in done:
                continue
            while len(self.in_flight) >= self._limit():
                self._collect(on_progress, wait=True)
            self._send(index, chunk)
            self._collect(on_progress, wait=False)
        self.job.chunks, self.job.ids = index + 1, n_ids
        sink_jobs.save(self.settings, self.app, self.job)  # the whole input is known now
        while self.in_flight:
            self._collect(on_progress, wait=True)
        return self.counts

    def _limit(self) -> int:
        """Tasks allowed in flight: the bound per live child times the children we know of."""
        now = time.monotonic()
        if now - self._children_at > CHILDREN_CHECK:
            self._children_at = now
            model = self.job.model or default_model(self.settings)
            try:
                client: Any = self.app.backend.client  # type: ignore[attr-defined]
                self._children = costs.read(client, self.settings, model).children
            except redis.RedisError:
                pass
        children = self._children or self.settings.worker_concurrency
        return max(1, children * self.settings.sink_tasks_per_child)

    def _send(self, index: int, chunk: list[InputId]) -> None:
        kwargs = {"model": self.job.model} if self.job.model else {}
        deadline = time.monotonic() + SEND_RETRY_SECONDS
        while True:
            try:
                self.app.send_task(
                    PREDICT_TO_SINK,
                    args=[chunk, self.job.sink, self.job.id, self.job.id_type],
                    kwargs=kwargs,
                    queue=model_queue(self.settings, self.job.model),
                    task_id=self.job.task_id(index),
                )
                break
            except (OperationalError, redis.ConnectionError, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise BrokerUnreachable(
                        f"could not send chunk {index} of job {self.job.id} for "
                        f"{SEND_RETRY_SECONDS:g}s ({exc}); resume it later with "
                        f"`modelfleet job {self.job.id} --resume`"
                    ) from exc
                time.sleep(0.5)
        self.in_flight[index] = self.job.task_id(index)

    def _collect(self, on_progress: Progress | None, wait: bool) -> None:
        """Count the receipts of finished chunks; with ``wait``, until at least one arrives."""
        delay = POLL_MIN
        while self.in_flight:
            try:
                found = sink_jobs.outcomes(self.app, self.job, list(self.in_flight))
            except redis.ConnectionError:
                found = {}  # Redis restarting: keep waiting
            for index, outcome in found.items():
                del self.in_flight[index]
                self.counts.add(index, outcome)
            if found and on_progress:
                on_progress(self.counts)
            if found or not wait:
                return
            time.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX)


def write_manifest(job: SinkJob, counts: SinkProgress) -> str:
    """Write ``_manifest.json`` beside the parts; return its URL."""
    import fsspec  # the `sink` extra: a producer without it still imports this module

    fs, base = fsspec.core.url_to_fs(job.sink)
    fs.makedirs(base, exist_ok=True)
    path = parts.join(base, "_manifest.json")
    fs.pipe_file(path, sink_jobs.manifest(job, counts))
    # Every task has finished: a temporary part left now is one whose writer was killed.
    for stale in fs.glob(parts.join(base, f".part-{job.id}-*.tmp")):
        fs.rm(stale)
    return str(fs.unstrip_protocol(path))


def run(
    settings: Settings,
    app: Celery,
    job: SinkJob,
    chunks: Iterable[list[InputId]],
    on_progress: Progress | None = None,
) -> SinkProgress:
    """Send the chunks that have no receipt yet, wait for all, write the manifest.

    The record is written before the first send, so a producer killed at any point leaves a
    job that ``modelfleet job ID --resume`` (or ``map_to_sink(..., job_id=ID)``) finishes.
    """
    known = sink_jobs.load_or_none(settings, app, job.id)
    done: set[int] = set()
    if known is not None:  # a resumed job: its chunks with a receipt are not sent again
        upto = known.chunks if known.chunks is not None else sent_bound(app, known)
        _, done = sink_jobs.progress(app, known, upto)
        job.created = known.created
    sink_jobs.save(settings, app, job)
    SinkSender(settings, app, job).run(chunks, done, on_progress)
    counts, _ = sink_jobs.progress(app, job, job.chunks or 0)
    write_manifest(job, counts)
    return counts


def submit(
    settings: Settings,
    app: Celery,
    chunks: Iterable[list[InputId]],
    sink: str,
    *,
    chunk_size: int,
    model: str | None = None,
    source: IdFile | None = None,
    job_id: str | None = None,
    on_recorded: Callable[[SinkJob], None] | None = None,
    on_progress: Progress | None = None,
) -> tuple[SinkJob, SinkProgress]:
    """A new (or, with ``job_id``, resumed) sink job over ``chunks``; returns when all are in.

    The data set's ID column type comes from the first chunk (all integers: int64, else string).
    """
    it = iter(chunks)
    first = next(it, [])
    known = sink_jobs.load_or_none(settings, app, job_id) if job_id else None
    job = SinkJob(
        id=job_id or sink_jobs.new_job_id(),
        sink=sink,
        chunk_size=chunk_size,
        id_type=known.id_type if known else parts.id_type_of(first),
        model=model,
        source=source,
    )
    if on_recorded:
        on_recorded(job)
    counts = run(settings, app, job, chain([first] if first else [], it), on_progress)
    return job, counts


def resume(
    settings: Settings, app: Celery, job: SinkJob, on_progress: Progress | None = None
) -> SinkProgress:
    """Finish a job whose IDs come from a file: send only its chunks without a receipt."""
    if job.source is None:
        raise NotResumable(
            f"job {job.id} got its IDs from a program, not a file: resume it from Python with "
            f"FleetExecutor().map_to_sink(<the same ids>, {job.sink!r}, job_id={job.id!r})"
        )
    return run(settings, app, job, job.source.chunks(job.chunk_size), on_progress)


def sent_bound(app: Celery, job: SinkJob) -> int:
    """How far to look for receipts of a job whose producer died before reading all input:
    up to the first run of :data:`sink_jobs.WINDOW` chunks without one."""
    upto = 0
    while sink_jobs.outcomes(app, job, list(range(upto, upto + sink_jobs.WINDOW))):
        upto += sink_jobs.WINDOW
    return upto + sink_jobs.WINDOW
