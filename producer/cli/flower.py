"""``modelfleet flower``: Flower on modelfleet's app, from the installed package.

``celery -A tasks flower`` imports ``tasks`` with the current directory first on ``sys.path``,
so a ``tasks.py`` of the user's own there silently replaces ours. This command imports our
``tasks`` package from where ``producer`` is installed (the two are installed together), then
runs Celery's own command line in this process, so every other option reaches Flower unchanged
and the auth rules of worker_config/flower.py apply (exit 78).
"""

from __future__ import annotations

import click

from producer.cli.exits import EPILOG
from producer.installed_app import import_tasks


@click.command(
    epilog=EPILOG,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("flower_args", nargs=-1, type=click.UNPROCESSED)
def flower(flower_args: tuple[str, ...]) -> None:
    """Start Flower on modelfleet's app; FLOWER_ARGS go to Flower (--port, --address, ...).

    Basic auth from MODELFLEET_FLOWER_USER and MODELFLEET_FLOWER_PASSWORD (or
    FLOWER_BASIC_AUTH); listens on 127.0.0.1 unless given --address, and exits 78 on any
    other address without credentials. Same as `celery -A tasks flower`, whatever the current
    directory holds.
    """
    # First Celery's command line, which imports Flower's options as a plug-in, then our app,
    # whose lifecycle.connect() then finds them to watch (worker_config/flower.py).
    from celery.bin.celery import celery

    import_tasks()

    # Celery's command line, as `celery` runs it; it exits the process (SystemExit) itself.
    celery.main(
        args=["-A", "tasks", "flower", *flower_args],
        prog_name="modelfleet flower",
        auto_envvar_prefix="CELERY",
    )
