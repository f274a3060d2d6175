"""``modelfleet probe ready|alive``: health checks for systemd, Docker and Kubernetes that read
the files the worker writes (``worker_config/records/health.py``), not the broker."""

from __future__ import annotations

import click

from producer.cli.exits import EPILOG, CommandError, ExitCode
from worker_config.errors import ConfigError
from worker_config.records.health import DEFAULT_MAX_AGE, check
from worker_config.settings import load_settings


@click.command(epilog=EPILOG)
@click.argument("what", type=click.Choice(["ready", "alive"]))
@click.option(
    "--max-age",
    type=click.FloatRange(1),
    default=DEFAULT_MAX_AGE,
    show_default=True,
    help="Seconds after which a heartbeat is stale.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; only the exit code tells.")
def probe(what: str, max_age: float, quiet: bool) -> ExitCode:
    """Alive: the worker's main process heartbeats. Ready: also every child loaded its model.

    Reads files under MODELFLEET_STATE_DIR on this machine: no broker round trip, so it is cheap
    enough for a Kubernetes probe every few seconds. Exits 0 (healthy) or 1, nothing else.
    """
    try:
        state_dir = load_settings().state_dir
    except ConfigError as exc:  # a probe answers only "healthy or not"
        raise CommandError(str(exc), ExitCode.FAILED) from exc
    result = check(state_dir, what, max_age)
    if not quiet:
        click.echo(result.message, err=not result.ok)
    return ExitCode.OK if result.ok else ExitCode.FAILED
