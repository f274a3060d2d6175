"""Keep the Redis lease of every task this worker holds, so a long task is never handed out twice.

kombu's Redis transport hands an unacknowledged task to another worker once it has been out
longer than the visibility timeout, even if the first worker is still running it (celery#5935,
kombu#337). Like Dramatiq's workers, the parent renews the lease of each task it holds a few
times per timeout; a worker that dies stops renewing, and its tasks come back one timeout later.
``LeaseRenewal`` does it as a bootstep that ``lifecycle.py`` adds to the worker.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery.worker import state

from worker_config import clients, keys, server_clock
from worker_config.celery_ext.steps import Repeating
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Renewals per visibility timeout.
RENEWALS_PER_TIMEOUT = 4


def renew_interval(settings: Settings) -> float:
    return max(0.5, settings.visibility_timeout / RENEWALS_PER_TIMEOUT)


def held_delivery_tags() -> list[str]:
    """Delivery tags of the tasks this worker has reserved or is running."""
    tags = []
    for request in (*state.reserved_requests, *state.active_requests):
        message = getattr(request, "message", None)
        tag = getattr(message, "delivery_tag", None)
        if isinstance(tag, str):
            tags.append(tag)
    return tags


def renew(client: redis.Redis, settings: Settings, tags: list[str]) -> int:
    """Mark ``tags`` as delivered now by the Redis server's clock (never this machine's: a worker
    whose clock is behind would hand its tasks to others); only tags still unacknowledged are
    touched (``XX``)."""
    if not tags:
        return 0
    index = keys.unacked_index(settings)
    changed = client.eval(server_clock.RENEW_SCRIPT, 1, index, *tags)
    return int(changed or 0)


class LeaseRenewal(Repeating):
    """In the parent's event loop, renew the leases of held tasks a few times per timeout."""

    def start(self, parent: Any) -> None:
        settings = get_settings()
        # Short timeouts: the event loop waits meanwhile.
        self.client = clients.broker(settings, clients.Purpose.SHORT)
        super().start(parent)

    def interval(self, worker: Any) -> float:
        return renew_interval(get_settings())

    def tick(self, worker: Any) -> None:
        try:
            renew(self.client, get_settings(), held_delivery_tags())
        except redis.RedisError as exc:  # Redis restarting: kombu reconnects, we try again
            logger.debug("could not renew task leases: %s", exc)
