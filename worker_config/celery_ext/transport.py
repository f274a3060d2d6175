"""kombu's Redis transport, hardened: a malformed entry in a queue list is logged and dropped.

kombu decodes each entry that ``BRPOP`` returns as a JSON envelope and builds a message from it;
one entry that is not JSON, not UTF-8, or lacks ``properties`` raises out of the worker's event
loop, and Celery stops the whole worker with "Unrecoverable error". Anyone who can ``LPUSH`` to
the queue could stop every worker that way, so we check each entry before kombu touches it.
Celery itself still refuses bodies of a content type it does not accept (pickle).
"""

from __future__ import annotations

import binascii
import json
import logging
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

logger = logging.getLogger(__name__)

#: Characters of a rejected entry shown in the log.
PREVIEW = 120


def envelope_problem(raw: object) -> str | None:  # noqa: PLR0911 (one return per problem)
    """Why ``raw`` is not a kombu message envelope kombu can handle, or None if it is one.

    Runs in the worker parent for every message, so it returns at the first problem and
    checks base64 in C (``strict_mode``) rather than with ``b64decode``'s regular expression.
    """
    if not isinstance(raw, dict):
        return f"the envelope is a JSON {type(raw).__name__}, not an object"
    props = raw.get("properties")
    if not isinstance(props, dict):
        return "the envelope has no 'properties' object"
    tag = props.get("delivery_tag")
    if not isinstance(tag, str) or not tag:
        return "'properties.delivery_tag' is not a non-empty string"
    info = props.get("delivery_info")
    if not (
        isinstance(info, dict)
        and isinstance(info.get("exchange"), str)
        and isinstance(info.get("routing_key"), str)
    ):
        return "'properties.delivery_info' lacks string 'exchange' and 'routing_key'"
    for key in ("content-type", "content-encoding"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            return "'content-type' or 'content-encoding' is not a string"
    if raw.get("headers") is not None and not isinstance(raw["headers"], dict):
        return "'headers' is not an object"
    body, encoding = raw.get("body"), props.get("body_encoding")
    if body is not None and not isinstance(body, str):
        return "'body' is not a string"
    if encoding not in (None, "base64"):
        return f"unknown body_encoding {encoding!r}"
    if encoding == "base64" and body and not _is_base64(body):
        return "'body' is not valid base64"
    return None


def _is_base64(text: str) -> bool:
    try:
        binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _preview(raw: object) -> str:
    text = repr(raw)
    return text if len(text) <= PREVIEW else text[: PREVIEW - 3] + "..."


class QoS(kombu_redis.QoS):
    """kombu's QoS, surviving a channel closed after the broker went away."""

    def restore_unacked(self, client: Any = None) -> Any:
        """Put this channel's unacknowledged messages back, if Redis can still be reached.

        When the broker connection drops, Celery closes the channel and kombu restores through
        a connection that is already gone: ``AttributeError: 'NoneType' object has no attribute
        'hostname'`` or a refused connection, and Celery stops the whole worker with
        "Unrecoverable error" instead of reconnecting. The messages are still in Redis's
        ``unacked`` hash, and kombu's sweep puts them back after the visibility timeout.
        """
        try:
            return super().restore_unacked(client)
        except (AttributeError, OSError, redis.RedisError) as exc:
            logger.warning(
                "broker gone while closing: %d unacknowledged message(s) come back after the "
                "visibility timeout (%s)",
                len(self._delivered or ()),
                exc,
            )
            return None


class Channel(kombu_redis.Channel):
    """A Redis channel that drops entries it cannot turn into a message, instead of dying."""

    QoS = QoS
    _handed_over = False

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str | None, **kwargs: Any
    ) -> Any:
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        callbacks: dict[str, Any] = self.connection._callbacks or {}
        deliver = callbacks[queue]

        def checked(raw: object) -> Any:
            problem = envelope_problem(raw)
            if problem:
                logger.error(
                    "rejected a malformed message on queue %r: %s; entry: %s",
                    queue,
                    problem,
                    _preview(raw),
                )
                return None
            self._handed_over = True
            return deliver(raw)

        callbacks[queue] = checked
        return result

    def _brpop_read(self, **options: Any) -> Any:
        self._handed_over = False
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if self._handed_over:  # raised by Celery's handling of a well-formed message
                raise
            logger.error("rejected a queue entry that is not a JSON envelope: %s", exc)
            return True


class Transport(kombu_redis.Transport):
    """``broker_transport`` for modelfleet: kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


#: URL schemes served by :class:`Transport` once :func:`register` ran.
SCHEMES = ("redis", "rediss")


def register() -> None:
    """Make ``redis://`` and ``rediss://`` URLs use :class:`Transport` in this process.

    Naming the class in ``broker_transport`` instead puts its import path where the URL scheme
    goes (``worker_config.celery_ext.transport:Transport://host``), and Flower, which picks its
    broker client by that scheme, then answers 404 on its Broker page and ``/api/queues/length``.
    Replacing kombu's alias keeps the broker URL ``redis://``; idempotent.
    """
    from kombu import transport as kombu_transport

    path = f"{__name__}:Transport"
    for scheme in SCHEMES:
        kombu_transport.TRANSPORT_ALIASES[scheme] = path
        cache: dict[str | None, Any] = getattr(kombu_transport, "_transport_cache", {})
        cache.pop(scheme, None)  # resolved before we ran
