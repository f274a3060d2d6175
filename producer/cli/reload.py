"""``modelfleet reload``: every worker's children switch to a new model file or version, rolling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from producer.cli.exits import EPILOG, CommandError, ExitCode
from producer.connection import client_app, redact
from producer.status import child_loads
from worker_config.errors import BrokerUnreachable
from worker_config.settings import Settings, load_settings


@click.command(epilog=EPILOG)
@click.option(
    "--model-path",
    type=click.Path(path_type=Path),
    help="New weights file or directory (default: reload from the configured place).",
)
@click.option("--model", "model", help="Reload only this served model (default: all).")
@click.option("--timeout", type=click.FloatRange(1), default=300.0, help="Seconds to wait.")
@click.option("--no-wait", is_flag=True, help="Send the request and return at once.")
def reload(model_path: Path | None, model: str | None, timeout: float, no_wait: bool) -> ExitCode:
    """Make every worker's children load the model again, one child at a time.

    Each child loads the new version beside the old one, then switches between two tasks: no
    task waits or fails, and each result's "model" field names the version that produced it. A
    version that fails to load is reported here and the old one keeps serving. Write new
    weights with an atomic rename (modelfleet's publish() does) before reloading. Exit 1
    means the new version failed to load and the old one keeps serving.
    """
    settings = load_settings()
    path = str(model_path.resolve()) if model_path else None
    app = client_app(settings)
    try:
        replies = app.control.broadcast(
            "modelfleet_reload",
            arguments={"model_path": path, "model": model},
            reply=True,
            timeout=2.0,
        )
    except Exception as exc:  # kombu and redis-py raise their own connection errors
        raise BrokerUnreachable(
            f"cannot reach the broker at {redact(settings.broker_url)}: {exc}"
        ) from exc
    finally:
        app.close()
    generations = _generations(replies or [])
    if not generations:
        raise CommandError(f"no worker answered on {redact(settings.broker_url)}", ExitCode.CONNECT)
    for hostname, generation in sorted(generations.items()):
        click.echo(f"{hostname}: reload generation {generation} started")
    return ExitCode.OK if no_wait else _wait(settings, generations, timeout)


def _generations(replies: list[dict[str, Any]]) -> dict[str, int]:
    found = {}
    for reply in replies:
        for hostname, answer in reply.items():
            if isinstance(answer, dict) and "generation" in answer:
                found[hostname] = int(answer["generation"])
    return found


def _wait(settings: Settings, generations: dict[str, int], timeout: float) -> ExitCode:
    """Poll the worker registry until each live child serves the request or reported failing."""
    deadline = time.monotonic() + timeout
    while True:
        done, failed, pending = [], [], []
        pools = _pool_pids(settings, list(generations))
        for hostname, generation in sorted(generations.items()):
            records = child_loads(settings, hostname)
            for info in (records[p] for p in sorted(pools.get(hostname, set())) if p in records):
                error = info.reload_error or {}
                if info.generation >= generation:
                    done.append((hostname, info))
                elif error.get("generation", 0) >= generation:
                    failed.append((hostname, info))
                else:
                    pending.append((hostname, info))
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for hostname, info in done:
        click.echo(f"  {hostname} pid {info.pid}: serving {info.model} {info.version}")
    for hostname, info in failed:
        message = (info.reload_error or {}).get("message", "")
        click.echo(
            f"  {hostname} pid {info.pid}: FAILED, still serving {info.model} {info.version}: "
            f"{message}"
        )
    for hostname, info in pending:
        click.echo(f"  {hostname} pid {info.pid}: still loading")
    if failed:
        return ExitCode.FAILED
    return ExitCode.TIMEOUT if pending else ExitCode.OK


def _pool_pids(settings: Settings, hostnames: list[str]) -> dict[str, set[int]]:
    """Each worker's current children (a recycled child leaves its record behind)."""
    app = client_app(settings)
    try:
        stats = app.control.inspect(destination=hostnames, timeout=1.0).stats() or {}
    finally:
        app.close()
    return {
        host: {int(p) for p in info.get("pool", {}).get("processes", [])}
        for host, info in stats.items()
    }
