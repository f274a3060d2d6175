"""``modelfleet results``, and printing a job's items as JSON lines (``enqueue --wait`` too)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import click
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult

from producer.cli.exits import EPILOG, ExitCode
from producer.connection import check_reachable, client_app
from producer.jobs import Job
from producer.task_presence import missing
from worker_config.errors import JobExpired, JobTimeout
from worker_config.settings import load_settings


@click.command(epilog=EPILOG)
@click.argument("task_ids", nargs=-1, required=True)
@click.option(
    "--timeout", "-t", type=click.FloatRange(0), default=0, help="Seconds to wait (0: don't)."
)
def results(task_ids: tuple[str, ...], timeout: float) -> ExitCode:
    """Print the result items of tasks sent earlier, as JSON lines.

    A task not finished prints {"task_id": ..., "state": "PENDING"}. Exits 0 all items ok, 1
    some items failed, 4 --timeout passed first, 7 a task is unknown (never sent, purged from
    its queue, or its result expired), 8 a task is still waiting or running (without --timeout).
    """
    settings = load_settings()
    check_reachable(settings)
    app = client_app(settings)
    pending = [t for t in task_ids if not AsyncResult(t, app=app).ready()]
    unknown = missing(settings, pending) if pending else set()
    for task_id in sorted(unknown):
        click.echo(
            f"modelfleet: no task {task_id}: never sent, purged from its queue, or its result "
            f"expired (results are kept {settings.result_expires} s)",
            err=True,
        )
    codes = {ExitCode.UNKNOWN_JOB} if unknown else set()
    for task_id in task_ids:
        if task_id in unknown:
            continue
        result: AsyncResult[object] = AsyncResult(task_id, app=app)
        if not timeout and not result.ready():
            click.echo(json.dumps({"task_id": task_id, "state": result.state}))
            codes.add(ExitCode.RUNNING)
            continue
        try:
            value = result.get(timeout=timeout or None, propagate=False)
        except CeleryTimeout:
            click.echo(
                f"modelfleet: task {task_id} not finished after {timeout:g}s (it goes on; "
                f"`modelfleet results {task_id}` reads it later)",
                err=True,
            )
            codes.add(ExitCode.TIMEOUT)
            continue
        for item in _items(task_id, value):
            failed = isinstance(item, dict) and "error" in item
            codes.add(ExitCode.FAILED if failed else ExitCode.OK)
            click.echo(json.dumps(item))
    return min(codes, key=SEVERITY.index) if codes else ExitCode.OK


#: The exit code when tasks end differently: the first of these that any task had.
SEVERITY = [
    ExitCode.UNKNOWN_JOB,
    ExitCode.TIMEOUT,
    ExitCode.RUNNING,
    ExitCode.FAILED,
    ExitCode.OK,
]


def _items(task_id: str, value: object) -> Iterator[object]:
    if isinstance(value, BaseException):
        yield {"task_id": task_id, "error": {"type": type(value).__name__, "message": str(value)}}
    elif isinstance(value, list):
        yield from value
    else:
        yield value


def print_results(job: Job, timeout: float | None) -> ExitCode:
    """Print a job's items as JSON lines in input order, a progress bar on stderr; the exit code.

    A timeout or expiry returns its code rather than raising: ``dead-letters --replay`` waits
    for one job per queue and reports the worst.
    """
    failed = 0
    with click.progressbar(length=job.size, label="results", file=sys.stderr) as bar:
        try:
            for item in job.results(timeout=timeout, on_progress=bar.update):
                failed += "error" in item
                click.echo(json.dumps(item))
        except JobTimeout as exc:
            click.echo(f"\nmodelfleet: {exc}", err=True)
            return ExitCode.TIMEOUT
        except JobExpired as exc:
            click.echo(f"\nmodelfleet: {exc}", err=True)
            return ExitCode.UNKNOWN_JOB
    if failed:
        click.echo(f"modelfleet: {failed} of {job.size} items failed", err=True)
    return ExitCode.FAILED if failed else ExitCode.OK
