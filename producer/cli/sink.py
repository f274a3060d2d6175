"""The sink side of ``enqueue --sink`` and ``job ID --resume | --collect``: Parquet data sets.

Progress goes to stderr; the job ID is printed before the first task is sent, so a producer
killed at any point leaves a job that ``modelfleet job ID --resume`` finishes.
"""

from __future__ import annotations

import time

import click
from celery import Celery

from producer import sink_jobs, streaming
from producer.cli.exits import CommandError, ExitCode
from producer.connection import check_reachable, client_app
from producer.id_files import IdFile
from producer.id_input import parse_ids
from producer.sink_jobs import SinkJob, SinkProgress
from worker_config.errors import IdFileError, NotResumable
from worker_config.settings import Settings

#: Seconds between progress lines on stderr.
REPORT_EVERY = 2.0


class _Reporter:
    """Prints ``rows N (E errors), parts P`` to stderr at most every :data:`REPORT_EVERY` s."""

    def __init__(self) -> None:
        self.at = 0.0

    def __call__(self, counts: SinkProgress) -> None:
        if time.monotonic() - self.at >= REPORT_EVERY:
            self.at = time.monotonic()
            click.echo(
                f"modelfleet: rows {counts.rows} ({counts.errors} errors), parts {counts.parts}",
                err=True,
            )


def enqueue_to_sink(
    settings: Settings,
    sink: str,
    *,
    file: str | None,
    tokens: tuple[str, ...],
    batch_size: int | None,
    model: str | None,
) -> ExitCode:
    """Stream the IDs of ``file`` (or the arguments) into a Parquet data set at ``sink``."""
    try:
        source = IdFile.parse(file) if file else None
    except IdFileError as exc:
        raise CommandError(str(exc), ExitCode.USAGE) from exc
    size = min(batch_size or settings.sink_chunk, settings.max_batch)
    chunks = source.chunks(size) if source else streaming.chunked(parse_ids(tokens), size)
    check_reachable(settings)
    app = client_app(settings)

    def recorded(job: SinkJob) -> None:
        click.echo(
            f"modelfleet: job {job.id}: writing to {sink}; follow it with `modelfleet job "
            f"{job.id}`, finish it after a crash with `modelfleet job {job.id} --resume`",
            err=True,
        )

    try:
        job, _ = streaming.submit(
            settings, app, chunks, sink, chunk_size=size, model=model, source=source,
            on_recorded=recorded, on_progress=_Reporter(),
        )  # fmt: skip
        return show(settings, app, job)
    finally:
        app.close()


def show(settings: Settings, app: Celery, job: SinkJob, collect: str | None = None) -> ExitCode:
    """Print the job's counts; with ``collect``, write its parts into that one Parquet file."""
    upto = job.chunks if job.chunks is not None else streaming.sent_bound(app, job)
    counts, _ = sink_jobs.progress(app, job, upto)
    complete = job.chunks is not None and counts.parts + len(counts.failed) >= job.chunks
    total = f"of {job.chunks}" if job.chunks is not None else "(input not fully read yet)"
    click.echo(
        f"job {job.id}: sink {job.sink}: parts {counts.parts} {total}, rows {counts.rows}, "
        f"errors {counts.errors}, failed tasks {len(counts.failed)}"
    )
    for failure in counts.failed[:10]:
        click.echo(f"modelfleet: {failure}", err=True)
    if collect:
        rows = collect_parts(job, collect)
        click.echo(f"modelfleet: wrote {rows} rows to {collect}", err=True)
    if not complete:
        return ExitCode.RUNNING
    return ExitCode.FAILED if counts.errors or counts.failed else ExitCode.OK


def resume_or_show(
    settings: Settings, app: Celery, job: SinkJob, resume: bool, collect: str | None
) -> ExitCode:
    """What ``modelfleet job ID`` does for a sink job."""
    if resume:
        check_reachable(settings)
        try:
            streaming.resume(settings, app, job, _Reporter())
        except NotResumable as exc:
            raise CommandError(str(exc), ExitCode.USAGE) from exc
    return show(settings, app, job, collect)


def collect_parts(job: SinkJob, out: str) -> int:
    """Copy the job's parts into one Parquet file, a record batch at a time (bounded memory)."""
    import fsspec
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from worker_config.sinks.parts import COMPRESSION, join

    fs, base = fsspec.core.url_to_fs(job.sink)
    paths = sorted(fs.glob(join(base, f"part-{job.id}-*.parquet")))
    dataset = ds.dataset(paths, filesystem=fs, format="parquet")
    rows = 0
    with pq.ParquetWriter(out, dataset.schema, compression=COMPRESSION) as writer:
        for batch in dataset.to_batches():
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
