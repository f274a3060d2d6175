"""``modelfleet jobs``: the recent jobs, newest first, with their progress."""

from __future__ import annotations

import time

import click

from producer import job_actions
from producer.cli.exits import EPILOG
from producer.cli.job import progress_bar
from producer.connection import check_reachable, client_app
from producer.job_progress import finished_batches, progress
from producer.jobs import forget_job, load_job, recent_jobs
from worker_config.errors import UnknownJob
from worker_config.settings import load_settings


@click.command(epilog=EPILOG)
@click.option("--limit", "-n", type=click.IntRange(1), default=20, help="How many jobs to show.")
def jobs(limit: int) -> None:
    """List recent jobs (newest first): ID, age, progress, and cancelled or retried."""
    settings = load_settings()
    check_reachable(settings)
    app = client_app(settings)
    try:
        for job_id in recent_jobs(settings, app, limit):
            try:
                stored, created = load_job(settings, app, job_id)
            except UnknownJob:
                forget_job(settings, app, job_id)  # expired with its results
                continue
            p = progress(stored, created, finished_batches(stored))
            age = time.time() - created
            notes = job_actions.describe_meta(settings, app, job_id)
            click.echo(f"{job_id}  {_age(age):>5} ago  {progress_bar(p)}{notes}")
    finally:
        app.close()


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
