"""What a worker does once as it starts: checks in the parent before the fork, the model load in
each pool child. Plain functions; ``lifecycle.py`` connects them to Celery's signals in order."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from typing import Any

from worker_config.errors import ModelfleetError
from worker_config.plugins import resolve_model, resolve_source
from worker_config.records import registry
from worker_config.routing import served_models
from worker_config.runtime import child, reload
from worker_config.runtime.state import current
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Exit status of a worker whose settings or plug-in names are wrong (sysexits' EX_CONFIG, 78).
EX_CONFIG = os.EX_CONFIG
#: Exit status of a worker whose model failed to load in a pool child.
EX_MODEL_LOAD = 3

#: BLAS/OpenMP libraries read these when they start; children inherit them from the parent.
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# -- In the parent, before the fork ------------------------------------------------------------


def check_config(**_: Any) -> None:
    """Fail in seconds, before any child starts, when settings or plug-in names are wrong."""
    try:
        settings = get_settings()
        for target in served_models(settings).values():
            resolve_model(target)
        resolve_source(settings.source)
    except ModelfleetError as exc:
        print(f"modelfleet: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None


def limit_threads(**_: Any) -> None:
    """One BLAS/OpenMP pool of ``threads_per_child`` per child, unless the operator chose."""
    for name in _THREAD_ENV:
        os.environ.setdefault(name, str(get_settings().threads_per_child))


def reset_registry(**_: Any) -> None:
    """Forget the children of this worker's previous run in ``modelfleet status``."""
    registry.reset(get_settings(), current().hostname)


#: Modules every child needs to serve a task, whatever the model: imported by the parent so the
#: children share their pages instead of each importing a private copy.
CHILD_IMPORTS = (
    "numpy",
    "threadpoolctl",  # runtime/child.py limits BLAS threads as it loads
    "cffi.cparser",  # 0.4 s and its parser tables, imported by a child's first load otherwise
    "billiard.pool",
    "billiard.popen_fork",
    "celery.app.trace",
    "celery.concurrency.prefork",
    "celery.worker.request",
    "kombu.serialization",
    "worker_config.runtime.inference",
    "worker_config.runtime.microbatch",
)


def preload_modules(settings: Settings) -> list[str]:
    """What the parent imports: :data:`CHILD_IMPORTS`, the ``PRELOAD`` of each model's and the
    source's plug-in module (libraries it imports only as it loads), then
    ``MODELFLEET_PRELOAD_MODULES``."""
    names = list(CHILD_IMPORTS)
    factories = [resolve_model(t) for t in served_models(settings).values()]
    for factory in [*factories, resolve_source(settings.source)]:
        module = sys.modules.get(getattr(factory, "__module__", ""))
        names.extend(getattr(module, "PRELOAD", ()))
    names.extend(n.strip() for n in settings.preload_modules.split(",") if n.strip())
    return list(dict.fromkeys(names))


def share_imports(**_: Any) -> None:
    """Import what the children will, then ``gc.freeze()``: after the fork they share those
    pages copy-on-write, and the collector never walks (so never writes to) the frozen objects.

    Runs after :func:`limit_threads`: BLAS reads its thread count when numpy is imported. Only
    modules: the model itself still loads in each child.
    """
    for name in preload_modules(get_settings()):
        try:
            importlib.import_module(name)
        except ImportError as exc:  # a library the plug-in names but this machine lacks
            logger.info("modelfleet: not preloading %s (%s)", name, exc)
    gc.collect()
    gc.freeze()


# -- In each pool child --------------------------------------------------------------------------


def load_models(**_: Any) -> None:
    """Load the models once in this pool child; on failure stop the whole worker, not loop."""
    state = current()
    settings = reload.current_settings()  # a child started after a reload loads the new model
    try:
        for name in served_models(settings):
            child.load(settings, name)
    except Exception as exc:
        logger.critical("modelfleet: %s; the worker is shutting down", exc)
        # A child that just exits is replaced by the pool and fails again forever; the flag
        # tells the parent (celery_ext/steps.py) to shut down with a non-zero status instead.
        state.load_failed[0] = 1
        os._exit(EX_MODEL_LOAD)
    state.loaded_with = settings


def register_child(**_: Any) -> None:
    """Record this child's models where ``modelfleet status`` sees them."""
    child.register(_loaded_with(), current().hostname, *child.loaded_models())


def watch_reloads(**_: Any) -> None:
    """Follow reload requests from the board in a background thread of this child."""
    reload.start_watcher(_loaded_with(), current().hostname, child.details())


def _loaded_with() -> Settings:
    return current().loaded_with or reload.current_settings()
