"""The worker's result backend: Celery's Redis (or Sentinel) one, with replica acknowledgements.

Celery stores a result with ``SET`` + ``PUBLISH`` and the task is acknowledged afterwards
(``acks_late``). With ``MODELFLEET_REPLICA_ACKS`` the store also waits for the replicas; too few
in time raise a connection error, which Celery's retry policy answers by storing again, on the
new master after a failover, before the task is acknowledged.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.app import backends
from celery.backends.redis import RedisBackend, SentinelBackend

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


class ReplicaAckedRedisBackend(_ReplicaAcked, RedisBackend):
    """``redis://`` results, confirmed by replicas."""


class ReplicaAckedSentinelBackend(_ReplicaAcked, SentinelBackend):
    """``sentinel://`` results, confirmed by replicas."""


#: Celery's backend classes and their replica-acked twins, most specific first.
_ACKED: tuple[tuple[type[Any], type[Any]], ...] = (
    (SentinelBackend, ReplicaAckedSentinelBackend),
    (RedisBackend, ReplicaAckedRedisBackend),
)


def result_backend(app: Celery, url: str | None = None, **kwargs: Any) -> Any:
    """The backend for ``app.backend_cls``: Celery's choice, replica-acked when asked."""
    found: Any = backends.by_url(  # celery-types says a class; it is (class, url)
        app.conf.result_backend, app.loader
    )
    cls, url_from_conf = found
    if get_settings().replica_acks:
        for plain, acked in _ACKED:
            if issubclass(cls, plain):
                cls = acked
                break
    return cls(app=app, url=url or url_from_conf, **kwargs)
