"""The producer's side of the broker: a send-only Celery app and a fast reachability check."""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from celery.backends.redis import RedisBackend, SentinelBackend
from kombu.utils.url import maybe_sanitize_url

from worker_config import clients, sentinel, wire_json
from worker_config.celeryconfig import celery_config
from worker_config.errors import BrokerUnreachable
from worker_config.settings import Settings

logger = logging.getLogger(__name__)


def redact(url: str) -> str:
    """The URL without its password, safe to print."""
    return str(maybe_sanitize_url(url))


class PollingRedisBackend(RedisBackend):
    """Redis result backend for a producer that polls results with MGET.

    Celery's own subscribes to a pub/sub channel for every task sent; we never read those
    messages, and thousands of subscriptions cost Redis memory and CPU.
    """

    def __init__(self, app: Celery, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(app=app, url=url or app.conf.result_backend, **kwargs)

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Skip the per-task subscription."""

    def on_result_fulfilled(self, result: Any) -> None:
        """Unsubscribe if we can: after a Redis restart this runs in ``AsyncResult.__del__``."""
        try:
            super().on_result_fulfilled(result)  # type: ignore[misc]
        except (redis.RedisError, RuntimeError) as exc:  # RuntimeError: Celery's retry limit
            logger.debug("could not unsubscribe from %s: %s", result.id, exc)


class PollingSentinelBackend(PollingRedisBackend, SentinelBackend):
    """:class:`PollingRedisBackend` that finds the master through Sentinel (``sentinel://``)."""


def client_app(settings: Settings) -> Celery:
    """A Celery app that sends modelfleet tasks by name; it needs none of the worker's code."""
    wire_json.install()  # the same orjson-backed json serializer the workers use
    app = Celery("modelfleet-producer", set_as_current=False)
    app.conf.update(celery_config(settings))
    # Not Celery(backend=...): the result_backend URL in the config would replace the class.
    on_sentinel = sentinel.is_sentinel(settings.result_backend)
    backend = PollingSentinelBackend if on_sentinel else PollingRedisBackend
    app.backend_cls = backend  # type: ignore[assignment]
    return app


def check_reachable(settings: Settings) -> None:
    """Raise :class:`BrokerUnreachable`, naming the URL without its password, if Redis is down."""
    for role, env, url in (
        ("broker", "CELERY_BROKER_URL", settings.broker_url),
        ("result backend", "CELERY_RESULT_BACKEND", settings.result_backend),
    ):
        try:
            clients.for_url(settings, url, clients.Purpose.SHORT).ping()
        except redis.AuthenticationError as exc:
            raise BrokerUnreachable(
                f"the {role} at {redact(url)} refused our credentials ({exc}); check {env}"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise BrokerUnreachable(
                f"cannot reach the {role} at {redact(url)} ({exc}); start Redis there or set {env}"
            ) from None
