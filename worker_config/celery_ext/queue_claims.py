"""Renew this pool's queue claims while it runs; stop the worker if it lost one to another model
(possible only if Redis lost the record, or was unreachable when the worker started)."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.worker import state as worker_state

from worker_config.celery_ext.steps import Repeating
from worker_config.celeryconfig import EX_CONFIG
from worker_config.records.queue_owners import RENEW_SECONDS
from worker_config.runtime.queue_claims import claim_all
from worker_config.runtime.state import current

logger = logging.getLogger(__name__)


class QueueClaimRenewal(Repeating):
    """Every ``RENEW_SECONDS``: renew the claims, so a queue's model outlives no fleet by long."""

    def interval(self, worker: Any) -> float:
        return RENEW_SECONDS

    def tick(self, worker: Any) -> None:
        try:
            refused = claim_all(current().hostname)
        except redis.RedisError as exc:  # the claim lapses only after OWNER_TTL; try again
            logger.warning("could not renew this pool's queue claims: %s", exc)
            return
        if refused:
            logger.critical("modelfleet: %s; stopping the worker", refused)
            worker_state.should_stop = EX_CONFIG  # type: ignore[assignment]
