"""Put back at once the micro-batch followers a pool child had taken when it died.

A child answering a ``modelfleet.predict`` task takes more queued single-ID tasks straight from
Redis (``runtime/microbatch.py``) and records each as taken by its PID. Killed before storing
their results (SIGKILL, the OOM killer, a poison input), it leaves them in kombu's unacked hash,
where only the visibility timeout (300 s by default) would bring them back: Celery requeues the
leader at once, but it knows nothing of the followers. :class:`FollowerRescue` looks each second
for records of PIDs that are no longer this worker's children and puts those tasks back on their
queue with kombu's own restore, which marks them redelivered: their deliveries are then counted,
so an input that kills children is found and dead-lettered like any other.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import redis

from worker_config import clients, keys
from worker_config.celery_ext.steps import Repeating
from worker_config.runtime.state import current
from worker_config.settings import get_settings

logger = logging.getLogger(__name__)

#: Seconds between the parent's looks for tasks taken by children that died.
RESCUE_INTERVAL = 1.0


def live_children(worker: Any) -> set[int] | None:
    """PIDs of the worker's pool children now; None while the pool is not running."""
    try:
        return {int(pid) for pid in worker.pool.info["processes"]}
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _pid(raw: bytes) -> int:
    """The PID in a record; 0 (never a child) for one that is not a number."""
    try:
        return int(raw)
    except ValueError:
        return 0


class FollowerRescue(Repeating):
    """In the parent's event loop: requeue the followers of children that are gone."""

    def start(self, parent: Any) -> None:
        settings = get_settings()
        self.client = clients.broker(settings, clients.Purpose.SHORT)  # the loop waits meanwhile
        self.key = keys.taken(settings, current().hostname, os.getpid())
        super().start(parent)

    def interval(self, worker: Any) -> float:
        return RESCUE_INTERVAL

    def tick(self, worker: Any) -> None:
        try:
            self.rescue(worker)
        except redis.RedisError as exc:  # Redis restarting: next time, or the visibility timeout
            logger.debug("could not look for tasks of dead children: %s", exc)

    def rescue(self, worker: Any) -> int:
        """Requeue what dead children had taken; the number of tasks put back."""
        live = live_children(worker)
        consumer = getattr(getattr(worker, "consumer", None), "task_consumer", None)
        channel = getattr(consumer, "channel", None)
        if live is None or channel is None:
            return 0
        taken: dict[bytes, bytes] = self.client.hgetall(self.key)  # type: ignore[assignment]
        orphans = {tag: pid for tag, pid in taken.items() if _pid(pid) not in live}
        if not orphans:
            return 0
        for tag in orphans:
            channel.qos.restore_by_tag(tag.decode("utf-8", "surrogateescape"))
        self.client.hdel(self.key, *orphans)
        logger.warning(
            "put back %d micro-batched task(s) taken by pool child(ren) %s, which died before "
            "answering them",
            len(orphans),
            ", ".join(sorted({str(_pid(p)) for p in orphans.values()})),
        )
        return len(orphans)
