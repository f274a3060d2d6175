"""Worker lifecycle: check plug-ins in the parent, load the model once in each pool child."""

from __future__ import annotations

import logging
import mmap
import os
import sys
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_ready
from celery.worker import state

from worker_config.errors import ModelfleetError
from worker_config.plugins import resolve_model, resolve_source
from worker_config.records import registry
from worker_config.routing import served_models
from worker_config.runtime import child, reload
from worker_config.settings import get_settings

logger = logging.getLogger(__name__)

#: Exit status of a worker whose settings or plug-in names are wrong (sysexits' EX_CONFIG).
EX_CONFIG = 78
#: Exit status of a worker whose model failed to load in a pool child.
EX_MODEL_LOAD = 3

#: BLAS/OpenMP libraries read these when they start; children inherit them from the parent.
_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Seconds between the parent's checks for a child that failed to load the model.
LOAD_FAILURE_POLL = 0.25

_hostname = "unknown"
#: One shared byte, set by a child whose model failed to load; shared with children by fork.
_load_failed = mmap.mmap(-1, 1)


@worker_init.connect
def check_before_fork(sender: Any = None, **_: Any) -> None:
    """Fail in seconds, before any child starts, when settings or plug-in names are wrong."""
    global _hostname
    _hostname = getattr(sender, "hostname", None) or _hostname
    try:
        settings = get_settings()
        for target in served_models(settings).values():
            resolve_model(target)
        resolve_source(settings.source)
    except ModelfleetError as exc:
        print(f"modelfleet: {exc}", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
    for name in _THREAD_ENV:
        os.environ.setdefault(name, str(settings.threads_per_child))
    reload.board()  # made before the fork, so that the children share it
    registry.reset(settings, _hostname)


@worker_process_init.connect
def load_model(**_: Any) -> None:
    """Load the model once in this pool child; on failure stop the whole worker, not loop."""
    settings = reload.current_settings()  # a child started after a reload loads the new model
    try:
        loaded = [child.load(settings, name) for name in served_models(settings)]
    except Exception as exc:
        logger.critical("modelfleet: %s; the worker is shutting down", exc)
        # A child that just exits is replaced by the pool and fails again forever; the flag
        # tells the parent to shut down with a non-zero status instead.
        _load_failed[0] = 1
        os._exit(EX_MODEL_LOAD)
    child.register(settings, _hostname, *loaded)
    reload.start_watcher(settings, _hostname, child.details())


@worker_ready.connect
def watch_for_load_failure(sender: Any = None, **_: Any) -> None:
    """In the parent's event loop, stop the worker with ``EX_MODEL_LOAD`` once a child failed."""

    def check() -> None:
        if _load_failed[0]:
            logger.critical(
                "modelfleet: a pool child could not load the model; stopping the worker"
            )
            # Celery's own signal handlers stop the worker the same way.
            state.should_stop = EX_MODEL_LOAD  # type: ignore[assignment]

    sender.timer.call_repeatedly(LOAD_FAILURE_POLL, check)
