"""``modelfleet status``: workers, their children and models, queue depths, unsafe settings."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

import click

from producer.cli.exits import EPILOG
from producer.connection import check_reachable, redact
from worker_config.errors import BrokerUnreachable
from worker_config.settings import Settings, load_settings


@click.command(epilog=EPILOG)
@click.option(
    "--timeout", type=click.FloatRange(0.1), default=1.0, help="Seconds to wait for workers."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout, for scripts.")
@click.option(
    "--watch", type=click.FloatRange(0.1), default=None, help="Show again every N seconds."
)
def status(timeout: float, as_json: bool = False, watch: float | None = None) -> None:
    """Show workers, their concurrency, the model each child serves, and the queue depth."""
    while True:
        if watch and not as_json and sys.stdout.isatty():
            click.clear()
        _status_once(timeout, as_json)
        if not watch:
            return
        sys.stdout.flush()
        time.sleep(watch)


def _status_once(timeout: float, as_json: bool) -> None:
    from producer.durability import broker_warnings
    from producer.status import fleet_status, queue_lines, stranded_warnings, unserved_warnings

    settings = load_settings()
    check_reachable(settings)  # the result backend too: producers need both
    try:
        fleet = fleet_status(settings, timeout=timeout)
    except Exception as exc:  # redis-py, kombu and OSError all mean the same to the user here
        raise BrokerUnreachable(
            f"cannot read the fleet's status from {redact(settings.broker_url)}: {exc}"
        ) from exc
    if as_json:
        warnings = [*unserved_warnings(fleet), *broker_warnings(settings.broker_url)]
        body = {"broker": redact(settings.broker_url), **asdict(fleet), "warnings": warnings}
        click.echo(json.dumps(body))
        return
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
    for warning in [*unserved_warnings(fleet), *stranded_warnings(fleet, settings)]:
        click.echo(f"warning: {warning}", err=True)
    for warning in broker_warnings(settings.broker_url):
        click.echo(f"warning: {warning}", err=True)
    _sentinel_report(settings)


def _sentinel_report(settings: Settings) -> None:
    """On Sentinel: the master, replicas and sentinels behind the broker and results."""
    from producer.sentinel_status import sentinel_views

    for roles, view in sentinel_views(settings):
        click.echo(f"sentinel ({roles}):")
        for line in view.lines():
            click.echo(f"  {line}")
        for warning in view.warnings():
            click.echo(f"warning: {warning}", err=True)
