"""``modelfleet worker``: ``celery -A tasks worker`` with our app, whatever the cwd holds."""

from __future__ import annotations

import click

from producer.installed_app import import_tasks


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Start a worker of the installed modelfleet; every option goes to `celery worker`.

    \b
    modelfleet worker --loglevel=INFO -n digits@%h --concurrency 4
    modelfleet worker --help      # celery worker's options

    Settings come from the environment as for `celery -A tasks worker`; invalid ones exit 78
    with one line. A `tasks.py` in the current directory is ignored: the app is the one
    installed with modelfleet (plug-ins named in MODELFLEET_MODEL are still found in the cwd).
    """
    import_tasks()
    from celery.bin.celery import celery

    # Celery's CLI exits with the worker's status; `-A tasks` finds the module imported above.
    celery.main(["-A", "tasks", "worker", *celery_args], "celery", auto_envvar_prefix="CELERY")
