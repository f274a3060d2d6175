"""``modelfleet demo``: what ``make demo`` runs (the demo itself is ``producer/local/demo.py``)."""

from __future__ import annotations

import click

from producer.cli.exits import EPILOG, CommandError, ExitCode
from worker_config.errors import ModelfleetError


@click.command(epilog=EPILOG)
@click.option("--timeout", type=click.FloatRange(1), default=300.0, help="Seconds for each stage.")
def demo(timeout: float) -> ExitCode:
    """Start Redis (unless CELERY_BROKER_URL is set) and a worker, predict all 1,797 digits."""
    from producer.local.demo import run_demo  # scikit-learn loads only for the demo

    try:
        code = run_demo(timeout=timeout)
    except ModelfleetError as exc:  # whatever broke (Redis, the worker), the demo failed
        raise CommandError(str(exc), ExitCode.DEMO_FAILED) from exc
    return ExitCode.OK if code == 0 else ExitCode.DEMO_FAILED
