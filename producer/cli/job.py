"""``modelfleet job <id>``: follow a job from any machine, after its producer has gone."""

from __future__ import annotations

import json
import time

import click
from celery import Celery

from producer import job_actions, sink_jobs
from producer.cli import sink as sink_cli
from producer.cli.exits import EPILOG, ExitCode
from producer.connection import check_reachable, client_app, redact
from producer.job_progress import JobProgress, finished_batches, items_in_order, progress
from producer.jobs import Job, fully_sent, keep_alive, load_job
from producer.resume import resume as resume_job
from worker_config.errors import BrokerUnreachable, JobTimeout
from worker_config.settings import Settings, load_settings

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


def _exit_code(p: JobProgress) -> ExitCode:
    if not p.complete:
        return ExitCode.RUNNING
    return ExitCode.FAILED if p.failed else ExitCode.OK


@click.command(epilog=EPILOG)
@click.argument("job_id")
@click.option(
    "--results", "show", flag_value="results", help="Print finished items as JSON lines, in order."
)
@click.option("--errors", "show", flag_value="errors", help="Print only the failed items.")
@click.option("--wait", "-w", is_flag=True, help="Wait until the job is complete.")
@click.option("--timeout", "-t", type=click.FloatRange(0), help="Seconds to wait with --wait.")
@click.option(
    "--resume",
    is_flag=True,
    help="Send what a killed producer did not send (same task IDs; sink jobs: chunks with no part)",
)
@click.option("--collect", metavar="FILE", help="Sink jobs: write all parts into one Parquet file.")
@click.option("--cancel", is_flag=True, help="Revoke the tasks without a result; mark cancelled.")
@click.option(
    "--retry-failed", is_flag=True, help="Send the failed (and lost) IDs again as a new job."
)
def job(
    job_id: str,
    *,
    show: str | None,
    wait: bool,
    timeout: float | None,
    resume: bool = False,
    collect: str | None = None,
    cancel: bool = False,
    retry_failed: bool = False,
) -> ExitCode:
    """Show a job's progress: done, failed and pending items, and a progress bar.

    With --results, print its finished items as JSON lines in input order (while it runs,
    the unfinished ones are left out; add --wait to get them all). With --errors, only the
    failed items. Exits 0 complete, 1 complete with failed items, 8 still running.
    """
    settings = load_settings()
    check_reachable(settings)  # a wrong broker password is reported, not "no such job"
    app = client_app(settings)
    try:
        if sink_job := sink_jobs.load(settings, app, job_id):  # a Parquet job (--sink)
            return sink_cli.resume_or_show(settings, app, sink_job, resume, collect)
        if cancel or retry_failed:
            return _act(settings, app, job_id, cancel=cancel, retry=retry_failed)
        if resume:
            sent, total = resume_job(settings, app, job_id)
            click.echo(f"modelfleet: job {job_id}: sent {sent} of its {total} tasks", err=True)
        return _show(settings, app, job_id=job_id, show=show, wait=wait, timeout=timeout)
    except Exception as exc:  # redis-py raises its own connection errors, not OSError
        if isinstance(exc, OSError) or type(exc).__module__.startswith("redis"):
            raise BrokerUnreachable(
                f"cannot read job {job_id} from {redact(settings.result_backend)}: {exc}"
            ) from exc
        raise  # UnknownJob among them
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
) -> ExitCode:
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
        return ExitCode.TIMEOUT
    finished = finished_batches(stored)
    p = progress(stored, created, finished)
    lost: list[int] = []
    if not p.complete:
        keep_alive(settings, app, job_id)
        lost = job_actions.lost_tasks(
            settings, stored, job_actions.unfinished_tasks(stored, finished)
        )
    if show and not wait:
        for item in items_in_order(stored, finished, errors_only=show == "errors"):
            click.echo(json.dumps(item))
    notes = job_actions.describe_meta(settings, app, job_id)
    click.echo(f"job {job_id}: {progress_bar(p)}{notes}", err=bool(show))
    if lost and not fully_sent(settings, app, job_id):
        ids = sum(len(stored.batches[i]) for i in lost)
        click.echo(
            f"modelfleet: {len(lost)} tasks ({ids} IDs) of job {job_id} were never sent (its "
            f"producer stopped first?): `modelfleet job {job_id} --resume` sends them",
            err=True,
        )
        return ExitCode.RUNNING
    if lost:
        ids = sum(len(stored.batches[i]) for i in lost)
        click.echo(
            f"modelfleet: {len(lost)} tasks ({ids} IDs) of job {job_id} are lost: in no queue, "
            "held by no worker, without a result (purged?); they will never finish. "
            f"`modelfleet job {job_id} --retry-failed` sends them again",
            err=True,
        )
        return ExitCode.FAILED
    return _exit_code(p)


def _act(settings: Settings, app: Celery, job_id: str, *, cancel: bool, retry: bool) -> ExitCode:
    """--cancel and --retry-failed."""
    stored, _ = load_job(settings, app, job_id)
    finished = finished_batches(stored)
    unfinished = job_actions.unfinished_tasks(stored, finished)
    if cancel:
        revoked = job_actions.cancel(settings, app, stored, unfinished)
        click.echo(f"job {job_id}: cancelled; revoked {revoked} tasks without a result", err=True)
        return ExitCode.OK
    lost = job_actions.lost_tasks(settings, stored, unfinished)
    new_id, count = job_actions.retry_failed(settings, stored, finished, lost)
    if not new_id:
        click.echo(f"job {job_id}: nothing failed, nothing to retry", err=True)
        return ExitCode.OK
    click.echo(new_id)
    click.echo(f"job {new_id}: {count} IDs sent again, retry of {job_id}", err=True)
    return ExitCode.OK


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
