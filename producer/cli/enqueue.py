"""``modelfleet enqueue``: send IDs to the fleet; print task IDs, the job ID, or the results."""

from __future__ import annotations

import sys
import warnings
from typing import IO

import click

from producer.cli.exits import EPILOG, CommandError, ExitCode
from producer.cli.results import print_results
from producer.executor import FleetExecutor
from producer.id_input import parse_ids
from producer.served import UnservedModelWarning
from worker_config.contract import InputId
from worker_config.settings import load_settings


def _read_ids(tokens: tuple[str, ...], file: IO[str] | None) -> list[InputId]:
    lines: list[str] = list(tokens)
    if file is not None:
        lines.extend(file.read().split())
    elif not tokens and not sys.stdin.isatty():
        lines.extend(sys.stdin.read().split())
    return parse_ids(lines)


@click.command(epilog=EPILOG)
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
) -> ExitCode:
    """Send IDs to the fleet: integers, ranges like 0-99, or strings; or from --file or stdin.

    Without --wait, prints one task ID per line. With --wait, prints one JSON result item per
    ID on stdout, in input order, with a progress bar on stderr.
    """
    settings = load_settings()
    id_list = _read_ids(ids, file)
    if not id_list:
        raise CommandError(
            "no IDs given: pass them as arguments (0-99), with --file, or on stdin", ExitCode.USAGE
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnservedModelWarning)
        executor = FleetExecutor(settings, batch_size=batch_size, model=model)
    for warning in caught:
        click.echo(f"modelfleet: warning: {warning.message}", err=True)
    job = executor.submit_batches(id_list)
    click.echo(
        f"modelfleet: job {job.id}: {job.size} IDs in {len(job.task_ids)} tasks; "
        f"follow it with `modelfleet job {job.id}`",
        err=True,
    )
    if job_id_only:
        click.echo(job.id)
    elif wait:
        return print_results(job, timeout)
    else:
        for task_id in job.task_ids:
            click.echo(task_id)
    return ExitCode.OK
