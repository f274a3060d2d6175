"""The worker's result backend: Celery's Redis (or Sentinel) one, with replica acknowledgements.

Celery stores a result with ``SET`` + ``PUBLISH`` and the task is acknowledged afterwards
(``acks_late``). With ``MODELFLEET_REPLICA_ACKS`` the store also waits for the replicas; too few
in time raise a connection error, which Celery's retry policy answers by storing again, on the
new master after a failover, before the task is acknowledged.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import SentinelBackend

from worker_config import replication
from worker_config.settings import get_settings


class _ReplicaAcked:
    """Mixin over a Celery Redis backend: ``_set`` ends with ``WAIT`` on the same connection."""

    client: Any
    expires: Any

    def _set(self, key: str, value: Any, expires: Any = None) -> None:
        settings = get_settings()
        expires = self.expires if expires is None else expires
        with self.client.pipeline(transaction=False) as pipe:  # WAIT is refused inside MULTI
            if expires:
                pipe.setex(key, expires, value)
            else:
                pipe.set(key, value)
            pipe.publish(key, value)
            replication.add_wait(pipe, settings)
            replication.check(pipe.execute()[-1], settings)


class ReplicaAckedSentinelBackend(_ReplicaAcked, SentinelBackend):
    """``sentinel://`` results, confirmed by replicas when ``MODELFLEET_REPLICA_ACKS`` asks
    (``redis://`` ones confirm in results.py's one-round-trip store)."""
