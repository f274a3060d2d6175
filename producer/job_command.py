"""``modelfleet job <id>``: follow a job from any machine, after its producer has gone."""

from __future__ import annotations

import json
import sys
import time

import click
from celery import Celery

from producer.connection import client_app, redact
from producer.exit_codes import (
    RET_CONFIG,
    RET_CONNECT,
    RET_FAILED,
    RET_OK,
    RET_RUNNING,
    RET_TIMEOUT,
    RET_UNKNOWN_JOB,
    fail,
    settings_or_exit,
)
from producer.job_progress import JobProgress, finished_batches, items_in_order, progress
from producer.jobs import Job, JobExpired, JobTimeout, UnknownJob, keep_alive, load_job
from worker_config.settings import Settings

EXIT_CODES = f"""
\b
Exit codes:
  {RET_OK}  the job is complete and every item succeeded
  {RET_FAILED}  the job is complete and some items failed
  {RET_CONNECT}  cannot reach the result backend
  {RET_TIMEOUT}  --wait timed out (the job goes on)
  {RET_CONFIG}  invalid settings
  {RET_UNKNOWN_JOB}  no such job (or it expired with its results)
  {RET_RUNNING}  the job is still running
"""

#: Width of the progress bar, in characters.
BAR_WIDTH = 40
#: Seconds between polls with --wait.
POLL_INTERVAL = 0.5


def progress_bar(p: JobProgress) -> str:
    """``[#####!!----]  52% done 50, failed 2, pending 48 of 100``: # done, ! failed."""
    total = max(p.total, 1)
    failed = max(round(BAR_WIDTH * p.failed / total), 1 if p.failed else 0)  # never hide one
    done = min(round(BAR_WIDTH * p.done / total), BAR_WIDTH - failed)
    bar = "#" * done + "!" * failed + "-" * (BAR_WIDTH - done - failed)
    percent = 100 * (p.done + p.failed) // total
    return (
        f"[{bar}] {percent:3d}%  done {p.done}, failed {p.failed}, pending {p.pending} "
        f"of {p.total} ({p.tasks_finished}/{p.tasks} tasks)"
    )


def _exit_code(p: JobProgress) -> int:
    if not p.complete:
        return RET_RUNNING
    return RET_FAILED if p.failed else RET_OK


@click.command(epilog=EXIT_CODES)
@click.argument("job_id")
@click.option(
    "--results", "show", flag_value="results", help="Print finished items as JSON lines, in order."
)
@click.option("--errors", "show", flag_value="errors", help="Print only the failed items.")
@click.option("--wait", "-w", is_flag=True, help="Wait until the job is complete.")
@click.option("--timeout", "-t", type=click.FloatRange(0), help="Seconds to wait with --wait.")
def job(job_id: str, show: str | None, wait: bool, timeout: float | None) -> None:
    """Show a job's progress: done, failed and pending items, and a progress bar.

    With --results, print its finished items as JSON lines in input order (while it runs,
    the unfinished ones are left out; add --wait to get them all). With --errors, only the
    failed items.
    """
    settings = settings_or_exit()
    app = client_app(settings)
    try:
        sys.exit(_show(settings, app, job_id=job_id, show=show, wait=wait, timeout=timeout))
    except UnknownJob as exc:
        fail(str(exc), RET_UNKNOWN_JOB)
    except OSError as exc:
        fail(f"cannot read job {job_id} from {redact(settings.result_backend)}: {exc}", RET_CONNECT)
    except Exception as exc:  # redis-py raises its own connection errors
        if type(exc).__module__.startswith("redis"):
            fail(
                f"cannot read job {job_id} from {redact(settings.result_backend)}: {exc}",
                RET_CONNECT,
            )
        raise
    finally:
        app.close()


def _show(
    settings: Settings,
    app: Celery,
    *,
    job_id: str,
    show: str | None,
    wait: bool,
    timeout: float | None,
) -> int:
    stored, created = load_job(settings, app, job_id)
    try:
        if wait and show:
            # Stream each finished prefix as soon as it is complete, like `enqueue --wait`.
            for item in stored.results(timeout=timeout):
                if show == "results" or "error" in item:
                    click.echo(json.dumps(item))
        elif wait:
            _wait_with_bar(stored, created, timeout)
    except JobTimeout:
        keep_alive(settings, app, job_id)
        click.echo(f"\nmodelfleet: job {job_id} not complete after {timeout}s", err=True)
        return RET_TIMEOUT
    finished = finished_batches(stored)
    p = progress(stored, created, finished)
    if not p.complete:
        keep_alive(settings, app, job_id)
    if show and not wait:
        for item in items_in_order(stored, finished, errors_only=show == "errors"):
            click.echo(json.dumps(item))
    click.echo(f"job {job_id}: {progress_bar(p)}", err=bool(show))
    return _exit_code(p)


def _wait_with_bar(stored: Job, created: float, timeout: float | None) -> None:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        p = progress(stored, created, finished_batches(stored))
        click.echo("\r" + progress_bar(p), nl=False, err=True)
        if p.complete:
            click.echo("", err=True)
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeout(f"not complete after {timeout}s")
        time.sleep(POLL_INTERVAL)


def print_results(job: Job, timeout: float | None) -> int:
    """Print a job's items as JSON lines in input order, a progress bar on stderr; the exit code."""
    failed = 0
    with click.progressbar(length=job.size, label="results", file=sys.stderr) as bar:
        try:
            for item in job.results(timeout=timeout, on_progress=bar.update):
                failed += "error" in item
                click.echo(json.dumps(item))
        except JobTimeout as exc:
            click.echo(f"\nmodelfleet: {exc}", err=True)
            return RET_TIMEOUT
        except JobExpired as exc:
            click.echo(f"\nmodelfleet: {exc}", err=True)
            return RET_UNKNOWN_JOB
    if failed:
        click.echo(f"modelfleet: {failed} of {job.size} items failed", err=True)
    return RET_FAILED if failed else RET_OK
