"""A sink job's record in Redis and its receipts: what ``--resume`` and progress read.

The record (``<prefix>job:<id>``, a hash) is written before the first task is sent and says
where the IDs come from, the chunk size and the sink; chunk ``i`` always goes in the task
``uuid5(job, i)``, so a resumed job finds each chunk's receipt (its Celery result) by name
and sends only the chunks that have none. Redis holds one receipt per part, not the items.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from celery import Celery, states

from producer.id_files import IdFile
from worker_config import keys
from worker_config.errors import UnknownJob
from worker_config.settings import Settings

#: Value of the record's ``kind`` field that marks a sink job.
KIND = "sink"
#: Receipts read per round trip.
WINDOW = 500


@dataclass
class SinkJob:
    """What a sink job needs to be sent again, from any machine."""

    id: str
    sink: str
    chunk_size: int
    id_type: str
    model: str | None = None
    source: IdFile | None = None
    created: float = field(default_factory=time.time)
    #: Set once the whole input has been read: how many chunks and IDs it has.
    chunks: int | None = None
    ids: int | None = None

    def task_id(self, index: int) -> str:
        """The task of chunk ``index``: the same on every (re)send of this job."""
        return str(uuid.uuid5(uuid.UUID(self.id), str(index)))


def new_job_id() -> str:
    return uuid.uuid4().hex


def _client(app: Celery) -> Any:
    return app.backend.client  # type: ignore[attr-defined]


def save(settings: Settings, app: Celery, job: SinkJob) -> None:
    """Write (or refresh) the record; it expires with the receipts."""
    meta = keys.job(settings, job.id)[0]
    fields: dict[str, Any] = {
        "kind": KIND,
        "sink": job.sink,
        "chunk_size": job.chunk_size,
        "id_type": job.id_type,
        "model": job.model or "",
        "source": job.source.path if job.source else "",
        "column": (job.source.column or "") if job.source else "",
        "created": job.created,
    }
    if job.chunks is not None:
        fields.update(chunks=job.chunks, ids=job.ids or 0)
    with _client(app).pipeline(transaction=False) as pipe:
        pipe.hset(meta, mapping=fields)
        pipe.expire(meta, settings.result_expires)
        pipe.execute()


def load(settings: Settings, app: Celery, job_id: str) -> SinkJob | None:
    """The sink job ``job_id``; None if it is a plain job; :class:`UnknownJob` if neither."""
    raw = _client(app).hgetall(keys.job(settings, job_id)[0])
    if not raw:
        raise UnknownJob(
            f"no job {job_id!r} in {keys.jobs_pattern(settings)}: it never existed here or expired "
            f"with its results (MODELFLEET_RESULT_EXPIRES={settings.result_expires}s)"
        )
    meta = {k.decode(): v.decode() for k, v in raw.items()}
    if meta.get("kind") != KIND:
        return None
    path, column = meta.get("source") or "", meta.get("column") or None
    return SinkJob(
        id=job_id,
        sink=meta["sink"],
        chunk_size=int(meta["chunk_size"]),
        id_type=meta["id_type"],
        model=meta.get("model") or None,
        source=IdFile(path, column) if path else None,
        created=float(meta["created"]),
        chunks=int(meta["chunks"]) if "chunks" in meta else None,
        ids=int(meta["ids"]) if "ids" in meta else None,
    )


def load_or_none(settings: Settings, app: Celery, job_id: str) -> SinkJob | None:
    """The sink job ``job_id`` if there is one."""
    try:
        return load(settings, app, job_id)
    except UnknownJob:
        return None


@dataclass(frozen=True)
class Outcome:
    """A finished chunk: its receipt, or why its task failed."""

    receipt: dict[str, Any] | None
    failure: str = ""


def outcomes(app: Celery, job: SinkJob, indices: list[int]) -> dict[int, Outcome]:
    """The finished chunks among ``indices``, in one MGET per :data:`WINDOW`."""
    backend: Any = app.backend
    found: dict[int, Outcome] = {}
    for start in range(0, len(indices), WINDOW):
        window = indices[start : start + WINDOW]
        names = [backend.get_key_for_task(job.task_id(i)) for i in window]
        for i, raw in zip(window, backend.client.mget(names), strict=True):
            meta = backend.decode_result(raw) if raw is not None else None
            if meta is None or meta["status"] not in states.READY_STATES:
                continue
            result = meta.get("result")
            if meta["status"] == states.SUCCESS and isinstance(result, dict):
                found[i] = Outcome(result)
            else:
                found[i] = Outcome(None, f"{meta['status']}: {result!r}")
    return found


@dataclass
class SinkProgress:
    """Counts from the receipts: parts written, their rows and error rows, failed tasks."""

    parts: int = 0
    rows: int = 0
    errors: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, index: int, outcome: Outcome) -> None:
        if outcome.receipt is None:
            self.failed.append(f"chunk {index}: {outcome.failure}")
            return
        self.parts += 1
        self.rows += int(outcome.receipt.get("rows", 0))
        self.errors += int(outcome.receipt.get("errors", 0))


def progress(app: Celery, job: SinkJob, upto: int) -> tuple[SinkProgress, set[int]]:
    """Counts over chunks ``0..upto-1`` and the indices that have a receipt."""
    counts, done = SinkProgress(), set()
    found = outcomes(app, job, list(range(upto)))
    for index in sorted(found):
        counts.add(index, found[index])
        if found[index].receipt is not None:
            done.add(index)
    return counts, done


@dataclass(frozen=True)
class SinkResult:
    """A finished sink job: its ID (for ``modelfleet job``), where it went and its counts."""

    job_id: str
    sink: str
    rows: int
    errors: int
    parts: int
    failed_tasks: list[str]


def manifest(job: SinkJob, counts: SinkProgress) -> bytes:
    """``_manifest.json``: what the data set holds (the ``_`` prefix keeps readers off it)."""
    return json.dumps(
        {
            "job": job.id,
            "ids": job.ids,
            "parts": counts.parts,
            "rows": counts.rows,
            "errors": counts.errors,
            "failed_tasks": len(counts.failed),
            "source": job.source.spec if job.source else None,
            "chunk_size": job.chunk_size,
            "part_glob": f"part-{job.id}-*.parquet",
            "written": time.time(),
        },
        indent=2,
    ).encode()
