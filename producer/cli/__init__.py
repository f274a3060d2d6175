"""The ``modelfleet`` command: one module per subcommand, exit codes decided here.

Commands return an :class:`ExitCode` and raise the errors they cannot handle;
:class:`FleetGroup` turns every ``ModelfleetError`` into its code through ``ERROR_CODES``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import redis
from celery.exceptions import BackendError
from kombu.exceptions import OperationalError

from producer.cli.dead_letters import dead_letters
from producer.cli.demo import demo
from producer.cli.enqueue import enqueue
from producer.cli.exits import EPILOG, CommandError, ExitCode
from producer.cli.flower import flower
from producer.cli.job import job
from producer.cli.jobs import jobs
from producer.cli.probe import probe
from producer.cli.reload import reload
from producer.cli.results import results
from producer.cli.status import status
from producer.cli.worker import worker
from worker_config.errors import ModelfleetError

#: What an unreachable or refusing broker or result backend raises, wherever a command meets it.
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, BackendError)


class FleetGroup(click.Group):
    """The one error path: every command fails as ``modelfleet: <message>`` with its exit code.

    Connection errors (wrong password included) exit 3 in one line, wherever they surface; a
    reader that closes the pipe (``| head -1``) ends the command quietly, as Unix tools do.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelfleetError as exc:
            raise CommandError.of(exc) from exc
        except CONNECTION_ERRORS as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CommandError(
                f"cannot use the broker or result backend ({reason}); check CELERY_BROKER_URL, "
                "CELERY_RESULT_BACKEND and their passwords, and that Redis runs there",
                ExitCode.CONNECT,
            ) from exc
        except BrokenPipeError:
            # Later writes (the interpreter's last flush) go nowhere instead of complaining.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(ExitCode.BROKEN_PIPE)


@click.group(cls=FleetGroup, epilog=EPILOG)
def main() -> None:
    """Distributed ML inference on Celery: send input IDs, get ordered results.

    Settings come from the environment: CELERY_BROKER_URL, CELERY_RESULT_BACKEND, MODELFLEET_*.
    """


@main.result_callback()
def _exit(code: ExitCode | None) -> None:
    """The process exits with the code the command returned (None: success)."""
    sys.stdout.flush()  # a closed pipe shows here, inside FleetGroup.invoke, not at exit
    click.get_current_context().exit(code or ExitCode.OK)


COMMANDS = (worker, enqueue, results, job, jobs, status, reload, demo, dead_letters, probe, flower)
for command in COMMANDS:
    main.add_command(command)
