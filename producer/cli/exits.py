"""Exit codes of every ``modelfleet`` command, and the one error that carries them.

Scripts and supervisors tell failures apart by the code alone, so the values never change;
``ERROR_CODES`` is the one place where an error class becomes a code.
"""

from __future__ import annotations

from enum import IntEnum
from typing import IO, Any

import click

from worker_config.errors import (
    BrokerUnreachable,
    ConfigError,
    InvalidId,
    JobExpired,
    JobTimeout,
    ModelfleetError,
    UnknownJob,
)


class ExitCode(IntEnum):
    """What a ``modelfleet`` exit status means; part of the CLI's contract."""

    OK = 0
    #: The command ran, but some items (or a reload, or a probe) failed.
    FAILED = 1
    #: Wrong usage or bad IDs (click's own usage errors use 2 as well).
    USAGE = 2
    #: The broker or result backend could not be reached, or no worker answered.
    CONNECT = 3
    #: Waiting took longer than --timeout; the work goes on.
    TIMEOUT = 4
    #: A setting (environment variable) is invalid.
    CONFIG = 5
    #: The demo did not finish cleanly.
    DEMO_FAILED = 6
    #: No such job: never created, or expired with its results.
    UNKNOWN_JOB = 7
    #: The job is still running.
    RUNNING = 8
    #: Whoever read the output closed the pipe (``| head``): quiet, as Unix tools (128 + SIGPIPE).
    BROKEN_PIPE = 141


MEANINGS = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "some items came back as errors (or a reload or probe failed)",
    ExitCode.USAGE: "usage error or invalid IDs",
    ExitCode.CONNECT: "cannot reach the broker or result backend",
    ExitCode.TIMEOUT: "timed out waiting for results (the work goes on)",
    ExitCode.CONFIG: "invalid settings",
    ExitCode.DEMO_FAILED: "the demo failed",
    ExitCode.UNKNOWN_JOB: "no such job or task (or it expired with its results)",
    ExitCode.RUNNING: "the job (or task) is still running",
    ExitCode.BROKEN_PIPE: "the reader closed the output pipe (no message, as Unix tools)",
}

#: The table every command's --help ends with (``\b`` keeps click from rewrapping it).
EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code.value}  {MEANINGS[code]}" for code in ExitCode)

#: The exit code of each error a command lets through; the most specific class wins.
ERROR_CODES: dict[type[ModelfleetError], ExitCode] = {
    InvalidId: ExitCode.USAGE,
    BrokerUnreachable: ExitCode.CONNECT,
    JobTimeout: ExitCode.TIMEOUT,
    ConfigError: ExitCode.CONFIG,
    UnknownJob: ExitCode.UNKNOWN_JOB,
    JobExpired: ExitCode.UNKNOWN_JOB,
    ModelfleetError: ExitCode.FAILED,
}


class CommandError(click.ClickException):
    """Printed as ``modelfleet: <message>`` on stderr; the command exits with ``exit_code``."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        # click declares exit_code per class; one class carrying any code is what we want.
        self.exit_code = exit_code  # type: ignore[misc]

    @classmethod
    def of(cls, error: ModelfleetError) -> CommandError:
        """The error's message, with the code of the nearest class in ``ERROR_CODES``."""
        code = next(ERROR_CODES[k] for k in type(error).__mro__ if k in ERROR_CODES)
        return cls(str(error), code)

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"modelfleet: {self.message}", file=file, err=file is None)
