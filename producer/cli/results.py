"""``modelfleet results``, and printing a job's items as JSON lines (``enqueue --wait`` too)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import click
from celery.result import AsyncResult

from producer.cli.exits import EPILOG, ExitCode
from producer.connection import client_app
from producer.jobs import Job
from worker_config.errors import JobExpired, JobTimeout
from worker_config.settings import load_settings


@click.command(epilog=EPILOG)
@click.argument("task_ids", nargs=-1, required=True)
@click.option(
    "--timeout", "-t", type=click.FloatRange(0), default=0, help="Seconds to wait (0: don't)."
)
def results(task_ids: tuple[str, ...], timeout: float) -> None:
    """Print the result items of tasks sent earlier, as JSON lines."""
    settings = load_settings()
    app = client_app(settings)
    for task_id in task_ids:
        result: AsyncResult[object] = AsyncResult(task_id, app=app)
        if not timeout and not result.ready():
            click.echo(json.dumps({"task_id": task_id, "state": result.state}))
            continue
        for item in _items_of(result, timeout):
            click.echo(json.dumps(item))


def _items_of(result: AsyncResult[object], timeout: float) -> Iterator[object]:
    try:
        value = result.get(timeout=timeout or None, propagate=False)
    except Exception as exc:
        yield {"task_id": result.id, "error": {"type": type(exc).__name__, "message": str(exc)}}
        return
    if isinstance(value, BaseException):
        yield {"task_id": result.id, "error": {"type": type(value).__name__, "message": str(value)}}
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
