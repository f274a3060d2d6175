"""The ``modelfleet`` command: enqueue IDs, wait for ordered results, look at the fleet, demo."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import IO

import click
from celery.result import AsyncResult

from producer.connection import client_app, redact
from producer.dead_letters import dead_letters
from producer.executor import FleetExecutor
from producer.exit_codes import (
    RET_CONFIG,
    RET_CONNECT,
    RET_DEMO_FAILED,
    RET_FAILED,
    RET_OK,
    RET_RUNNING,
    RET_TIMEOUT,
    RET_UNKNOWN_JOB,
    RET_USAGE,
    fail,
    settings_or_exit,
)
from producer.id_input import parse_ids
from producer.job_command import job, print_results
from producer.probe_command import probe
from producer.reload import reload
from worker_config.errors import BrokerUnreachable, InvalidId, ModelfleetError

EXIT_CODES = f"""
\b
Exit codes:
  {RET_OK}  success
  {RET_FAILED}  some items came back as errors (or a reload or probe failed)
  {RET_USAGE}  usage error or invalid IDs
  {RET_CONNECT}  cannot reach the broker or result backend
  {RET_TIMEOUT}  timed out waiting for results (the work goes on)
  {RET_CONFIG}  invalid settings
  {RET_DEMO_FAILED}  the demo failed
  {RET_UNKNOWN_JOB}  no such job (or it expired with its results)
  {RET_RUNNING}  the job is still running
"""


@click.group(epilog=EXIT_CODES)
def main() -> None:
    """Distributed ML inference on Celery: send input IDs, get ordered results.

    Settings come from the environment: CELERY_BROKER_URL, CELERY_RESULT_BACKEND, MODELFLEET_*.
    """


def _read_ids(tokens: tuple[str, ...], file: IO[str] | None) -> list[object]:
    lines: list[str] = list(tokens)
    if file is not None:
        lines.extend(file.read().split())
    elif not tokens and not sys.stdin.isatty():
        lines.extend(sys.stdin.read().split())
    try:
        return list(parse_ids(lines))
    except InvalidId as exc:
        fail(str(exc), RET_USAGE)


@main.command(epilog=EXIT_CODES)
@click.argument("ids", nargs=-1)
@click.option(
    "--file", "-f", type=click.File("r"), help="Read IDs from a file, one or more per line."
)
@click.option(
    "--batch-size", "-b", type=click.IntRange(1), help="IDs per task (default: automatic)."
)
@click.option(
    "--wait", "-w", is_flag=True, help="Wait and print results as JSON lines, in input order."
)
@click.option("--timeout", "-t", type=click.FloatRange(0), help="Seconds to wait with --wait.")
@click.option(
    "--job-id", "job_id_only", is_flag=True, help="Print only the job ID (for `modelfleet job`)."
)
@click.option(
    "--model", "-m", help="Send to this model's queue (<MODELFLEET_QUEUE>.<model>); default: plain."
)
def enqueue(
    ids: tuple[str, ...],
    *,
    file: IO[str] | None,
    batch_size: int | None,
    wait: bool,
    timeout: float | None,
    job_id_only: bool = False,
    model: str | None = None,
) -> None:
    """Send IDs to the fleet: integers, ranges like 0-99, or strings; or from --file or stdin.

    Without --wait, prints one task ID per line. With --wait, prints one JSON result item per
    ID on stdout, in input order, with a progress bar on stderr.
    """
    settings = settings_or_exit()
    id_list = _read_ids(ids, file)
    if not id_list:
        fail("no IDs given: pass them as arguments (0-99), with --file, or on stdin", RET_USAGE)
    executor = FleetExecutor(settings, batch_size=batch_size, model=model)
    try:
        job = executor.submit_batches(id_list)
    except BrokerUnreachable as exc:
        fail(str(exc), RET_CONNECT)
    click.echo(
        f"modelfleet: job {job.id}: {job.size} IDs in {len(job.task_ids)} tasks; "
        f"follow it with `modelfleet job {job.id}`",
        err=True,
    )
    if job_id_only:
        click.echo(job.id)
        return
    if not wait:
        for task_id in job.task_ids:
            click.echo(task_id)
        return
    sys.exit(print_results(job, timeout))


@main.command(epilog=EXIT_CODES)
@click.argument("task_ids", nargs=-1, required=True)
@click.option(
    "--timeout", "-t", type=click.FloatRange(0), default=0, help="Seconds to wait (0: don't)."
)
def results(task_ids: tuple[str, ...], timeout: float) -> None:
    """Print the result items of tasks sent earlier, as JSON lines."""
    settings = settings_or_exit()
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


@main.command(epilog=EXIT_CODES)
@click.option(
    "--timeout", type=click.FloatRange(0.1), default=1.0, help="Seconds to wait for workers."
)
def status(timeout: float) -> None:
    """Show workers, their concurrency, the model each child serves, and the queue depth."""
    from producer.durability import broker_warnings
    from producer.status import fleet_status, queue_lines, unserved_warnings

    settings = settings_or_exit()
    try:
        fleet = fleet_status(settings, timeout=timeout)
    except Exception as exc:  # redis-py, kombu and OSError all mean the same to the user here
        fail(
            f"cannot read the fleet's status from {redact(settings.broker_url)}: {exc}", RET_CONNECT
        )
    click.echo(f"broker:  {redact(settings.broker_url)}")
    click.echo("queues:")
    for line in queue_lines(fleet):
        click.echo(f"  {line}")
    from producer.worker_info import ask_workers, describe

    info = ask_workers(settings, timeout, expected=len(fleet.workers)) if fleet.workers else {}
    click.echo(f"workers: {len(fleet.workers)}")
    for worker in fleet.workers:
        click.echo(f"  {worker.hostname}  concurrency {worker.concurrency}, children {worker.pids}")
        if worker.hostname in info:
            click.echo(f"    {describe(info[worker.hostname])}")
        for c in worker.children:
            click.echo(
                f"    pid {c.pid}: model {c.model} {c.version}, loaded in {c.load_seconds}s "
                f"({c.loads} load{'s' if c.loads != 1 else ''})"
            )
            if c.reload_error:
                click.echo(
                    f"      reload {c.reload_error.get('generation')} FAILED, old version serving: "
                    f"{c.reload_error.get('message')}"
                )
    for warning in unserved_warnings(fleet):
        click.echo(f"warning: {warning}", err=True)
    for warning in broker_warnings(settings.broker_url):
        click.echo(f"warning: {warning}", err=True)


@main.command(epilog=EXIT_CODES)
@click.option("--timeout", type=click.FloatRange(1), default=300.0, help="Seconds for each stage.")
def demo(timeout: float) -> None:
    """Start Redis (unless CELERY_BROKER_URL is set) and a worker, predict all 1,797 digits."""
    from producer.local.demo import run_demo

    try:
        code = run_demo(timeout=timeout)
    except ModelfleetError as exc:
        fail(str(exc), RET_DEMO_FAILED)
    sys.exit(RET_OK if code == 0 else RET_DEMO_FAILED)


main.add_command(job)
main.add_command(reload)
main.add_command(dead_letters)
main.add_command(probe)
