"""Canaries: the Celery, kombu and prometheus-client internals we patch or call still exist.

modelfleet overrides or calls private methods and attributes of its dependencies (see
worker_config/celery_ext/ and the names below). A release that renames one breaks a worker
only at run time, under a broker outage or a malformed message; these tests break at once,
naming the attribute, the installed version and the range pyproject.toml admits. When one
fails: adapt the code that uses it, then move the range in pyproject.toml.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def admitted(package: str) -> str:
    """The range of ``package`` in pyproject.toml's dependencies, as written there."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    for requirement in project["dependencies"]:
        name = requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip()
        if name == package:
            return str(requirement)
    return f"{package} (not a direct dependency)"


def check(ok: bool, package: str, what: str, used_by: str) -> None:
    if not ok:
        pytest.fail(
            f"{what} is missing or changed in {package} {version(package)} (pyproject.toml "
            f"admits {admitted(package)}); {used_by} relies on it: adapt that code, then move "
            "the range.",
            pytrace=False,
        )


def params(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


# kombu ------------------------------------------------------------------------------------


def test_kombu_redis_channel_reads_the_queue_through_brpop_read() -> None:
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    check(
        callable(getattr(channel, "_brpop_read", None)),
        "kombu",
        "kombu.transport.redis.Channel._brpop_read(**options)",
        "worker_config/celery_ext/transport.py (drops malformed queue entries)",
    )
    # Our override only runs if the channel dispatches BRPOP replies through the method.
    check(
        "self._brpop_read" in inspect.getsource(channel.__init__),
        "kombu",
        "Channel.handlers['BRPOP'] bound to self._brpop_read",
        "worker_config/celery_ext/transport.py",
    )


def test_kombu_redis_qos_keeps_delivered_messages_in_delivered() -> None:
    from kombu.transport import redis as kombu_redis

    qos = kombu_redis.QoS(SimpleNamespace(do_restore=False), prefetch_count=1)
    check(
        hasattr(qos, "_delivered"),
        "kombu",
        "kombu.transport.redis.QoS._delivered",
        "worker_config/celery_ext/transport.py (QoS.restore_unacked's warning)",
    )
    check(
        callable(getattr(kombu_redis.QoS, "restore_unacked", None))
        and params(kombu_redis.QoS.restore_unacked)[:2] == ["self", "client"],
        "kombu",
        "kombu.transport.redis.QoS.restore_unacked(client=None)",
        "worker_config/celery_ext/transport.py",
    )


def test_kombu_virtual_channel_registers_consumers_in_connection_callbacks() -> None:
    from kombu import Connection

    with Connection("memory://") as connection:
        channel = connection.default_channel
        channel.queue_declare("canary")

        def callback(message: object) -> None:
            pass

        channel.basic_consume("canary", no_ack=True, callback=callback, consumer_tag="c")
        callbacks = getattr(channel.connection, "_callbacks", None)
        check(
            isinstance(callbacks, dict) and "canary" in callbacks,
            "kombu",
            "Transport._callbacks[queue], filled by virtual Channel.basic_consume",
            "worker_config/celery_ext/transport.py (checks each entry before kombu's callback)",
        )


def test_kombu_redis_channel_gets_its_clients_from_conn_or_acquire_over_its_pool() -> None:
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    source = inspect.getsource(channel.conn_or_acquire)
    check(
        "self._create_client()" in source and isinstance(channel.__dict__.get("pool"), property),
        "kombu",
        "kombu.transport.redis.Channel.conn_or_acquire(client=None) -> _create_client() on .pool",
        "worker_config/celery_ext/transport.py (one client per channel)",
    )
    check(
        "conn_or_acquire" in inspect.getsource(kombu_redis.QoS.pipe_or_acquire),
        "kombu",
        "kombu.transport.redis.QoS.pipe_or_acquire through channel.conn_or_acquire",
        "worker_config/celery_ext/transport.py (acks reuse the channel's client)",
    )


def test_celery_buffers_task_events_behind_a_replaceable_flush_callback() -> None:
    from celery.events.dispatcher import EventDispatcher
    from celery.worker.consumer import consumer, events

    used_by = "worker_config/celery_ext/event_batch.py (task events flushed in batches)"
    check(
        "self.on_send_buffered()" in inspect.getsource(EventDispatcher.send)
        and "buffer_limit" in inspect.signature(EventDispatcher).parameters,
        "celery",
        "EventDispatcher.send calling self.on_send_buffered(), and its buffer_limit",
        used_by,
    )
    check(
        callable(getattr(consumer.Consumer, "_flush_events", None))
        and "on_send_buffered=c.on_send_event_buffered" in inspect.getsource(events.Events.start),
        "celery",
        "Consumer._flush_events and the Events step passing on_send_buffered",
        used_by,
    )


def test_celery_and_kombu_expose_what_the_follower_rescue_uses() -> None:
    from celery.concurrency import prefork
    from kombu.transport import redis as kombu_redis

    used_by = "worker_config/celery_ext/follower_rescue.py (dead children's followers requeued)"
    check(
        "'processes': [p.pid for p in self._pool._pool]"
        in inspect.getsource(prefork.TaskPool._get_info),
        "celery",
        "prefork TaskPool.info['processes'], the pool children's PIDs",
        used_by,
    )
    check(
        list(inspect.signature(kombu_redis.QoS.restore_by_tag).parameters)[:2] == ["self", "tag"]
        and "_do_restore_message" in inspect.getsource(kombu_redis.QoS.restore_by_tag),
        "kombu",
        "kombu.transport.redis.QoS.restore_by_tag(tag), restoring as redelivered",
        used_by,
    )


def test_kombu_redis_channel_knows_our_transport_options() -> None:
    from kombu.transport import redis as kombu_redis

    channel = kombu_redis.Channel
    for option in ("unacked_restore_interval", "unacked_restore_throttle", "visibility_timeout"):
        check(
            option in channel.from_transport_options and hasattr(channel, option),
            "kombu",
            f"the Redis transport option {option!r}",
            "worker_config/celeryconfig.py (broker_transport_options)",
        )


def test_kombu_redis_unacked_keys_are_the_ones_we_write() -> None:
    from kombu.transport import redis as kombu_redis

    from worker_config.runtime import microbatch

    channel = kombu_redis.Channel
    check(
        (channel.unacked_key, channel.unacked_index_key)
        == (microbatch.UNACKED_KEY, microbatch.UNACKED_INDEX_KEY),
        "kombu",
        f"the unacked keys {microbatch.UNACKED_KEY!r} and {microbatch.UNACKED_INDEX_KEY!r}",
        "worker_config/runtime/microbatch.py and celery_ext/lease.py (Lua and ZADD on them)",
    )


def test_kombu_producer_publishes_in_batches() -> None:
    import kombu.exceptions
    from kombu import Producer

    check(
        callable(getattr(Producer, "batch", None)) and "max_size" in params(Producer.batch),
        "kombu",
        "kombu.Producer.batch(max_size=...) (new in kombu 5.7)",
        "producer/executor.py (one pipelined round trip per chunk of tasks)",
    )
    check(
        isinstance(getattr(kombu.exceptions, "BatchPublishError", None), type),
        "kombu",
        "kombu.exceptions.BatchPublishError (new in kombu 5.7)",
        "producer/executor.py (resends a chunk cut off mid-send)",
    )


# celery -----------------------------------------------------------------------------------


def test_celery_tracer_renders_results_through_the_module_saferepr() -> None:
    from celery.app import trace
    from celery.utils.saferepr import saferepr

    source = inspect.getsource(trace.build_tracer)
    check(
        "saferepr(R, resultrepr_maxsize)" in source
        and params(saferepr)[:4] == ["o", "maxlen", "maxlevels", "seen"],
        "celery",
        "celery.app.trace.build_tracer calling the module's saferepr(R, resultrepr_maxsize)",
        "worker_config/celery_ext/result_repr.py (a long result's repr from its prefix)",
    )


def test_celery_request_announces_a_cancel_in_announce_cancelled() -> None:
    from celery.worker.request import Request

    check(
        callable(getattr(Request, "_announce_cancelled", None))
        and "emit_retry" in params(Request._announce_cancelled),
        "celery",
        "celery.worker.request.Request._announce_cancelled(emit_retry=True)",
        "worker_config/celery_ext/task_request.py (a cancel survives an unreachable backend)",
    )
    check(
        getattr(Request, "_already_cancelled", None) is False,
        "celery",
        "celery.worker.request.Request._already_cancelled",
        "worker_config/celery_ext/task_request.py",
    )


def test_celery_backend_builds_result_meta_in_get_result_meta() -> None:
    from celery.backends.base import BaseBackend

    method = getattr(BaseBackend, "_get_result_meta", None)
    check(
        callable(method)
        and {"result", "state", "traceback", "request"} <= set(params(method) if method else []),
        "celery",
        "celery.backends.base.BaseBackend._get_result_meta(result, state, traceback, request)",
        "worker_config/runtime/microbatch.py (stores followers' results as Celery would)",
    )


def test_celery_redis_backend_stores_through_store_result() -> None:
    from celery.backends.base import BaseKeyValueStoreBackend
    from celery.backends.redis import RedisBackend

    used_by = "worker_config/celery_ext/results.py (one round trip per stored result)"
    store = getattr(BaseKeyValueStoreBackend, "_store_result", None)
    check(
        callable(store)
        and params(store)[:5] == ["self", "task_id", "result", "state", "traceback"],
        "celery",
        "celery.backends.base.BaseKeyValueStoreBackend._store_result(task_id, result, state, ...)",
        used_by,
    )
    check(
        isinstance(getattr(RedisBackend, "_MAX_STR_VALUE_SIZE", None), int),
        "celery",
        "celery.backends.redis.RedisBackend._MAX_STR_VALUE_SIZE",
        used_by,
    )
    check(
        "failure_expires" in inspect.getsource(RedisBackend.__init__),
        "celery",
        "celery.backends.redis.RedisBackend.failure_expires",
        used_by,
    )


def test_celery_worker_state_lists_held_requests() -> None:
    from celery.worker import state

    for name in ("reserved_requests", "active_requests"):
        check(
            hasattr(state, name),
            "celery",
            f"celery.worker.state.{name}",
            "worker_config/celery_ext/lease.py and control.py (the tasks this worker holds)",
        )


# prometheus-client ------------------------------------------------------------------------


def test_prometheus_client_values_can_be_switched_to_multiprocess() -> None:
    from prometheus_client import values

    check(
        hasattr(values, "ValueClass") and callable(getattr(values, "MultiProcessValue", None)),
        "prometheus-client",
        "prometheus_client.values.ValueClass and MultiProcessValue()",
        "worker_config/observe/metrics.py (file-backed values across prefork children)",
    )


def test_kombu_resolves_redis_urls_through_its_alias_table() -> None:
    from kombu import transport as kombu_transport

    check(
        isinstance(getattr(kombu_transport, "TRANSPORT_ALIASES", None), dict)
        and isinstance(getattr(kombu_transport, "_transport_cache", None), dict),
        "kombu",
        "kombu.transport.TRANSPORT_ALIASES and _transport_cache",
        "worker_config/celery_ext/transport.py register() (redis:// URLs use our Transport)",
    )
