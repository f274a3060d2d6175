"""Celery's Redis result backend, made so a task whose result cannot be stored is run again.

With ``acks_late`` the pool child stores the result (``mark_as_done`` in celery/app/trace.py)
and the parent then acknowledges the message. When the store raises (the backend is down, full
at ``maxmemory`` with ``noeviction``, read-only, loading), Celery reports an internal error and
the parent acknowledges anyway: the task is gone and its client waits until expiry. Celery's
own retry does not help: ``_store_result`` first reads the old state with a ``GET`` that is not
retried at all.

Here a pool child retries a failed store with exponential backoff and jitter for up to
``MODELFLEET_RESULT_STORE_RETRY_SECONDS``, then raises :class:`celery.exceptions.Reject` with
``requeue=True``: the parent puts the message back on the queue instead of acknowledging it, so
it runs again (at least once, never lost). The parent itself never waits here (its event loop
serves every child); its rare stores keep Celery's behaviour.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.process import current_process
from celery.exceptions import Reject

from worker_config.celery_ext.backend import ReplicaAckedSentinelBackend
from worker_config.celery_ext.results import StoreOnceRedisBackend
from worker_config.settings import get_settings
from worker_config.store_retry import STORE_ERRORS, retry_store

logger = logging.getLogger(__name__)


def in_pool_child() -> bool:
    """True in a prefork pool child, where a task's result is stored (not in the parent)."""
    return current_process().name != "MainProcess"


class _Requeueing:
    """Mixin for a Redis backend: a child's store that keeps failing requeues its task."""

    def store_result(
        self, task_id: str, result: Any, state: str, traceback: Any = None,
        request: Any = None, **kwargs: Any,
    ) -> Any:  # fmt: skip
        store = super().store_result  # type: ignore[misc]
        if not in_pool_child():
            return store(task_id, result, state, traceback, request, **kwargs)
        budget = get_settings().result_store_retry_seconds
        try:
            return retry_store(
                lambda: store(task_id, result, state, traceback, request, **kwargs),
                budget,
                f"the {state} result of task {task_id}",
            )
        except STORE_ERRORS as exc:
            logger.error(
                "task %s: result not stored after %.0fs (%s: %s); its message goes back to the "
                "queue to run again",
                task_id,
                budget,
                type(exc).__name__,
                exc,
            )
            reason = f"result of {task_id} not stored: {type(exc).__name__}"
            raise Reject(reason, requeue=True) from exc


class ResultBackend(_Requeueing, StoreOnceRedisBackend):
    """``redis://`` and ``rediss://`` results: one round trip per store (results.py), and
    requeued rather than lost when not stored."""


class SentinelResultBackend(_Requeueing, ReplicaAckedSentinelBackend):
    """``sentinel://`` results, confirmed by replicas when ``MODELFLEET_REPLICA_ACKS`` asks,
    requeued rather than lost when not stored."""


#: Celery's ``loader.override_backends`` (set in lifecycle.py): URL scheme -> backend class.
BACKENDS = {
    "redis": f"{__name__}:ResultBackend",
    "rediss": f"{__name__}:ResultBackend",
    "sentinel": f"{__name__}:SentinelResultBackend",
}
