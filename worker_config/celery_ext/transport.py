"""kombu's Redis transport, hardened: a malformed entry in a queue list is logged and dropped.

kombu decodes each entry that ``BRPOP`` returns as a JSON envelope and builds a message from it;
one entry that is not JSON, not UTF-8, or lacks ``properties`` raises out of the worker's event
loop, and Celery stops the whole worker with "Unrecoverable error". Anyone who can ``LPUSH`` to
the queue could stop every worker that way, so we check each entry before kombu touches it.
Celery itself still refuses bodies of a content type it does not accept (pickle).
"""

from __future__ import annotations

import binascii
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import redis
from celery.worker import state as worker_state
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.transport import virtual as kombu_virtual
from kombu.utils.json import dumps

from worker_config.celery_ext.message_check import task_message_problem
from worker_config.server_clock import OffsetClock, server_now

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
    """kombu's QoS, surviving a channel closed after the broker went away, and scoring leases
    with the Redis server's clock instead of this machine's (``server_clock.py``)."""

    _clock = OffsetClock()
    _vrestore_count: int
    channel: Any

    def _append_scored(self, message: Any, delivery_tag: str) -> None:
        """kombu's ``append``, with the delivery scored by the server's clock."""
        delivery = message.delivery_info
        exchange, routing_key = delivery["exchange"], delivery["routing_key"]
        with self.channel.conn_or_acquire() as client:
            now = self._clock.now(client)
            pipe = client.pipeline()
            pipe.zadd(self.unacked_index_key, {delivery_tag: now}).hset(
                self.unacked_key, delivery_tag, dumps([message._raw, exchange, routing_key])
            ).execute()
            virtual.QoS.append(self, message, delivery_tag)

    def _restore_visible_scored(self, start: int = 0, num: int = 10, interval: int = 10) -> None:
        """kombu's sweep of lapsed leases, comparing scores with the server's clock."""
        self._vrestore_count += 1
        if (self._vrestore_count - 1) % (interval or 1):
            return
        with self.channel.conn_or_acquire() as client:
            try:
                ceil = server_now(client) - self.visibility_timeout
                with kombu_redis.Mutex(client, self.unacked_mutex_key, self.unacked_mutex_expire):
                    visible = client.zrange(
                        self.unacked_index_key, ceil, 0, desc=True, byscore=True,
                        offset=num and start, num=num, withscores=True,
                    )  # fmt: skip
                    for tag, _score in visible or []:
                        self.restore_by_tag(tag, client)
            except kombu_redis.MutexHeld:
                pass

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

    def append(self, message: Any, delivery_tag: str) -> Any:
        """Record a message just taken from the queue as unacknowledged, waiting out a full Redis.

        ``BRPOP`` has already taken the message off the queue, and a Redis at ``maxmemory``
        (``noeviction``) refuses the record: raising would lose the message and stop the worker.
        Nothing else can be written either, so the worker parent waits here, retrying, until
        Redis accepts writes again; on shutdown it logs the whole message at ERROR, so it can be
        sent again, and gives up.
        """
        pause = 0.2
        while True:
            try:
                return self._append_scored(message, delivery_tag)
            except redis.ResponseError as exc:
                if worker_state.should_stop is not None or worker_state.should_terminate:
                    logger.error(
                        "shutting down while Redis refuses writes (%s): message %s was taken "
                        "from the queue and is not recorded; send it again: %s",
                        exc,
                        delivery_tag,
                        json.dumps(message._raw, default=str),
                    )
                    raise
                logger.warning(
                    "Redis refuses to record message %s as taken (%s); retrying in %.1fs",
                    delivery_tag,
                    exc,
                    pause,
                )
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    def restore_visible(self, *args: Any, **kwargs: Any) -> Any:
        """Kombu's sweep for messages of dead workers; skipped while Redis refuses writes."""
        try:
            return self._restore_visible_scored(*args, **kwargs)
        except redis.ResponseError as exc:
            logger.warning("cannot look for messages of dead workers now: %s", exc)
            return None

    def ack(self, delivery_tag: str) -> Any:
        """Acknowledge; if Redis refuses the write (OOM, read-only), let the message come back.

        Celery calls this in the worker parent's event loop and stops the worker with
        "Unrecoverable error" when it raises anything but a connection error. A refused ack
        leaves the message in Redis's ``unacked`` hash, which puts it back on the queue after the
        visibility timeout (its result is stored, so running it again only repeats work).
        """
        try:
            return super().ack(delivery_tag)
        except redis.ResponseError as exc:
            logger.warning(
                "could not acknowledge message %s (%s: %s); it runs again after the "
                "visibility timeout",
                delivery_tag,
                type(exc).__name__,
                exc,
            )
            return kombu_virtual.QoS.ack(self, delivery_tag)  # forget it here only

    def reject(self, delivery_tag: str, requeue: bool = False) -> Any:
        """Reject; if Redis refuses the write, it comes back after the visibility timeout."""
        try:
            return super().reject(delivery_tag, requeue=requeue)
        except redis.ResponseError as exc:
            logger.warning(
                "could not reject message %s (%s: %s); it comes back after the visibility timeout",
                delivery_tag,
                type(exc).__name__,
                exc,
            )
            return kombu_virtual.QoS.ack(self, delivery_tag)


class Channel(kombu_redis.Channel):
    """A Redis channel that drops entries it cannot turn into a message, instead of dying."""

    QoS = QoS
    _handed_over = False
    _client: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu's, with one client object per channel instead of a new ``redis.Redis`` per call.

        kombu builds a client (and its table of ~250 response callbacks) for every ack, every
        unacked record and every sweep: ~12% of the worker parent's CPU per task on the plain
        path (py-spy). A client over a connection pool holds no connection itself, so one object
        serves every call; it is rebuilt when kombu replaces the pool (after a fork, a reconnect).
        """
        if client:
            yield client
            return
        pool = self.pool
        if self._client is None or self._client.connection_pool is not pool:
            self._client = self._create_client()  # type: ignore[attr-defined]
        yield self._client

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: str | None, **kwargs: Any
    ) -> Any:
        result = super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)
        callbacks: dict[str, Any] = self.connection._callbacks or {}
        deliver = callbacks[queue]

        def checked(raw: object) -> Any:
            problem = envelope_problem(raw)
            if not problem and "task" in (raw.get("headers") or {}):  # type: ignore[attr-defined]
                problem = task_message_problem(raw)  # type: ignore[arg-type]
            if problem:
                logger.error(
                    "rejected a malformed message on queue %r: %s; entry: %s",
                    queue,
                    problem,
                    _preview(raw),
                )
                return None
            self._handed_over = True
            try:
                return deliver(raw)
            except (redis.RedisError, OSError):  # Redis trouble: Celery reconnects, it comes back
                raise
            except Exception as exc:  # this message's fault: it costs the message, not the worker
                self._drop(raw, queue, exc)
                return None

        callbacks[queue] = checked
        return result

    def _drop(self, raw: Any, queue: str, exc: Exception) -> None:
        """Remove a message whose handling raised, so no worker handles it again."""
        tag = raw["properties"]["delivery_tag"]
        logger.error(
            "rejected message %s on queue %r: handling it raised %s: %s; entry: %s",
            tag,
            queue,
            type(exc).__name__,
            _preview(str(exc)),
            _preview(raw),
        )
        with contextlib.suppress(KeyError):  # Celery had already acknowledged or rejected it
            self.qos.reject(tag, requeue=False)

    def _brpop_read(self, **options: Any) -> Any:
        self._handed_over = False
        try:
            return super()._brpop_read(**options)  # type: ignore[misc]
        except (ValueError, RecursionError, TypeError, KeyError, AttributeError) as exc:
            # The entry is not UTF-8, not JSON, nested too deep for the decoder, not a message.
            if self._handed_over:  # raised by Celery's handling of a well-formed message
                raise
            logger.error(
                "rejected a queue entry that is not a JSON envelope: %s", _preview(repr(exc))
            )
            return True


class Transport(kombu_redis.Transport):
    """``broker_transport`` for modelfleet: kombu's Redis transport with :class:`Channel`."""

    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """:class:`Channel`'s checks on kombu's Sentinel channel, which finds the master first."""


class SentinelTransport(kombu_redis.SentinelTransport):
    """``broker_transport`` for ``sentinel://`` URLs: kombu's Sentinel transport, hardened.

    kombu treats the ``;``-separated sentinels as failover URLs: after a connection error it
    switches to the next one, re-parsing it into kombu's own ``sentinel`` transport and so
    dropping this class (and its checks) for good. Every entry names a sentinel of the same
    master, which the channel asks for anyway, so the connection never switches.
    """

    Channel = SentinelChannel

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        client.cycle = None  # kombu.Connection.maybe_switch_next: no switch without a cycle


#: URL schemes served by our transports once :func:`register` ran.
SCHEMES = {"redis": "Transport", "rediss": "Transport", "sentinel": "SentinelTransport"}


def register() -> None:
    """Make ``redis://``, ``rediss://`` and ``sentinel://`` URLs use our transports here.

    Naming the class in ``broker_transport`` instead puts its import path where the URL scheme
    goes (``worker_config.celery_ext.transport:Transport://host``), and Flower, which picks its
    broker client by that scheme, then answers 404 on its Broker page and ``/api/queues/length``.
    Replacing kombu's aliases keeps the broker URL's scheme; idempotent.
    """
    from kombu import transport as kombu_transport

    for scheme, cls in SCHEMES.items():
        kombu_transport.TRANSPORT_ALIASES[scheme] = f"{__name__}:{cls}"
        cache: dict[str | None, Any] = getattr(kombu_transport, "_transport_cache", {})
        cache.pop(scheme, None)  # resolved before we ran
