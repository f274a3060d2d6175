"""Exit codes of every ``modelfleet`` command, so scripts and supervisors tell failures apart."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from worker_config.errors import ConfigError
from worker_config.settings import Settings, load_settings

#: Success.
RET_OK = 0
#: The command ran, but some items (or children, or probes) failed.
RET_FAILED = 1
#: Wrong usage or bad IDs (click's own usage errors use 2 as well).
RET_USAGE = 2
#: The broker or result backend could not be reached, or no worker answered.
RET_CONNECT = 3
#: Waiting took longer than --timeout; the work goes on.
RET_TIMEOUT = 4
#: A setting (environment variable) is invalid.
RET_CONFIG = 5
#: The demo did not finish cleanly.
RET_DEMO_FAILED = 6
#: No such job: never created, or expired with its results.
RET_UNKNOWN_JOB = 7
#: The job is still running.
RET_RUNNING = 8


def fail(message: str, code: int) -> NoReturn:
    """Print ``modelfleet: <message>`` on stderr and exit with ``code``."""
    click.echo(f"modelfleet: {message}", err=True)
    sys.exit(code)


def settings_or_exit() -> Settings:
    """The settings from the environment, or exit ``RET_CONFIG`` naming each bad variable."""
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), RET_CONFIG)
