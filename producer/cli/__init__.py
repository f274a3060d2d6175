"""The ``modelfleet`` command: one module per subcommand, exit codes decided here.

Commands return an :class:`ExitCode` and raise the errors they cannot handle;
:class:`FleetGroup` turns every ``ModelfleetError`` into its code through ``ERROR_CODES``.
"""

from __future__ import annotations

from typing import Any

import click

from producer.cli.dead_letters import dead_letters
from producer.cli.demo import demo
from producer.cli.enqueue import enqueue
from producer.cli.exits import EPILOG, CommandError, ExitCode
from producer.cli.flower import flower
from producer.cli.job import job
from producer.cli.probe import probe
from producer.cli.reload import reload
from producer.cli.results import results
from producer.cli.status import status
from worker_config.errors import ModelfleetError


class FleetGroup(click.Group):
    """A group whose commands fail the same way: ``modelfleet: <message>`` and the error's code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ModelfleetError as exc:
            raise CommandError.of(exc) from exc


@click.group(cls=FleetGroup, epilog=EPILOG)
def main() -> None:
    """Distributed ML inference on Celery: send input IDs, get ordered results.

    Settings come from the environment: CELERY_BROKER_URL, CELERY_RESULT_BACKEND, MODELFLEET_*.
    """


@main.result_callback()
def _exit(code: ExitCode | None) -> None:
    """The process exits with the code the command returned (None: success)."""
    click.get_current_context().exit(code or ExitCode.OK)


for command in (enqueue, results, job, status, reload, demo, dead_letters, probe, flower):
    main.add_command(command)
