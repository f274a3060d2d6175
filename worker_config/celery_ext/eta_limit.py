"""Tasks whose ``eta``/``countdown`` lies further ahead than ``MODELFLEET_MAX_ETA`` fail at once.

Celery holds a task with an ETA in the worker parent's memory (and we renew its lease) until the
ETA: 20,000 tasks with an ETA in year 9999 took a parent from 68 to 239 MB, for good. Such a task
is refused when it arrives: logged, answered with an ``EtaTooFar`` failure in the result backend,
and acknowledged, so a producer waiting on it gets an answer instead of a wait without end.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from worker_config.celery_ext.task_request import CancellableRequest
from worker_config.errors import EtaTooFar
from worker_config.settings import get_settings

logger = logging.getLogger(__name__)


class BoundedRequest(CancellableRequest):
    """The task request the workers use: an ETA beyond the limit is refused on arrival."""

    _too_far: str | None = None
    _already_revoked: bool
    _eta: datetime | None
    _expires: datetime | None
    _context: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eta = self._eta
        limit = get_settings().max_eta
        if eta is None:
            return
        ahead = (eta - datetime.now(UTC)).total_seconds()
        if ahead > limit:
            self._too_far = (
                f"task {self.id} has eta {eta.isoformat()}, {ahead:.0f}s ahead, more than "
                f"MODELFLEET_MAX_ETA ({limit:g}s); send it closer to when it should run"
            )
            # Celery checks whether a task is revoked only if it expires: make it look so.
            self._expires = self._expires or eta

    def revoked(self) -> bool:
        if self._too_far is None or self._already_revoked:
            return bool(super().revoked())
        logger.error("refused %s", self._too_far)
        try:
            self.task.backend.mark_as_failure(
                self.id, EtaTooFar(self._too_far), request=self._context,
                store_result=self.store_errors,
            )  # fmt: skip
        except Exception as exc:  # the backend is down: the task is refused all the same
            logger.warning("could not store the EtaTooFar result of task %s: %s", self.id, exc)
        self.acknowledge()
        self._already_revoked = True
        return True
