"""Import modelfleet's Celery app from where modelfleet is installed, never from the cwd.

``celery -A tasks worker`` imports whatever ``tasks`` the current directory holds first
(``python -m`` and Celery's ``import_from_cwd`` both put the cwd at the front of ``sys.path``), so
a user's own ``tasks.py`` silently replaces ours. ``modelfleet worker`` imports ours by its
installed location before Celery looks: Celery then finds it in ``sys.modules``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

from worker_config.errors import ConfigError

#: The directory that holds our packages (``producer``, ``tasks``, ``worker_config``).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _is_cwd(entry: str, cwd: Path) -> bool:
    try:
        return Path(entry or ".").resolve() == cwd
    except OSError:
        return False


def import_tasks() -> ModuleType:
    """Our ``tasks`` package (which wires the worker's hooks), whatever the cwd contains.

    The worker process needs it: a producer never calls this (it would load the worker runtime).
    """
    cwd = Path.cwd().resolve()
    saved = list(sys.path)
    # The cwd stays importable only when it is where we are installed (a source checkout).
    sys.path[:] = [e for e in sys.path if not _is_cwd(e, cwd) or cwd == PACKAGE_ROOT]
    if (PACKAGE_ROOT / "tasks" / "__init__.py").exists():
        sys.path.insert(0, str(PACKAGE_ROOT))
    try:
        # By name, not `import tasks`: producer code never imports the worker statically.
        module = importlib.import_module("tasks")
    finally:
        sys.path[:] = saved
    origin = Path(module.__file__ or "").resolve()
    if cwd != PACKAGE_ROOT and origin.is_relative_to(cwd):
        raise ConfigError(
            f"imported {origin} instead of modelfleet's tasks package; run from another "
            f"directory or reinstall modelfleet ({os.fspath(PACKAGE_ROOT)})"
        )
    return module
