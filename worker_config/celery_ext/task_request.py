"""Celery's task request, fixed so a task cancelled on a broker connection loss is redelivered.

On a connection loss the worker cancels running ``acks_late`` tasks so their redelivery does
not run beside them (``worker_cancel_long_running_tasks_on_connection_loss``, celery#6951).
Celery then records a RETRY state in the result backend, which is often the very Redis that
just went away; that write raises, the request is never marked cancelled, and when the killed
child is reported Celery takes it for a revoke: it stores ``TaskRevokedError`` and acknowledges
the message, so the task is never run. Here a failed write is logged and the cancel stands;
the unacknowledged message comes back after the visibility timeout.
"""

from __future__ import annotations

import logging

from celery.worker.request import Request

logger = logging.getLogger(__name__)


class CancellableRequest(Request):
    """A request whose cancel on connection loss survives an unreachable result backend."""

    def _announce_cancelled(self, emit_retry: bool = True) -> None:
        try:
            super()._announce_cancelled(emit_retry=emit_retry)  # type: ignore[misc]
        except Exception as exc:  # the backend is down too: the task still comes back
            logger.warning(
                "task %s was cancelled after the broker connection was lost and will be "
                "delivered again; its RETRY state could not be stored: %s",
                self.id,
                exc,
            )
            self._already_cancelled = True
