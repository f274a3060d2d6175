"""Celery configuration derived from modelfleet's settings: one place, no surprises."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from kombu import Exchange, Queue

from worker_config import keys, sentinel
from worker_config.errors import ConfigError
from worker_config.routing import worker_queues
from worker_config.settings import Settings, get_settings

#: Exit status of a program started with invalid settings (sysexits' EX_CONFIG): systemd's
#: ``RestartPreventExitStatus=78`` then stops restarting it.
EX_CONFIG = os.EX_CONFIG


def app_config() -> dict[str, Any]:
    """The app's configuration from the environment, read when Celery first needs it.

    Celery evaluates this lazily, deep inside its command line (``celery -A tasks worker``
    parses ``--concurrency`` against it), where an exception becomes a 70-line traceback and
    exit 1. Inside a command (worker, flower, ``modelfleet worker``), invalid settings end
    the program with one line and ``EX_CONFIG``; a library caller gets the ``ConfigError``.
    """
    try:
        return celery_config(get_settings())
    except ConfigError as exc:
        if click.get_current_context(silent=True) is None:
            raise
        print(f"modelfleet: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG) from None


def celery_config(settings: Settings) -> dict[str, Any]:
    """The Celery settings modelfleet's app runs with."""
    return {
        # sentinel+ssl:// becomes sentinel:// with TLS options, which kombu understands.
        "broker_url": sentinel.celery_url(settings.broker_url),
        "result_backend": sentinel.celery_url(settings.result_backend),
        "broker_connection_retry_on_startup": True,
        # rediss:// URLs: TLS with certificate checks on (tls.py explains why this is needed).
        "broker_use_ssl": sentinel.ssl_for_celery(settings.broker_url) or False,
        "redis_backend_use_ssl": sentinel.ssl_for_celery(settings.result_backend),
        "broker_transport_options": {
            # master_name and sentinel_kwargs, for sentinel:// URLs (sentinel.py).
            **sentinel.transport_options(settings, settings.broker_url),
            "visibility_timeout": settings.visibility_timeout,
            # Look for tasks of dead workers about 4 times per visibility timeout (kombu's
            # default sweep is every 10 x 10 s), so a short timeout really is short.
            "unacked_restore_interval": max(1.0, min(10.0, settings.visibility_timeout / 4)),
            "unacked_restore_throttle": 1,
            **keys.transport_options(settings),
        },
        "result_backend_transport_options": {
            **sentinel.transport_options(settings, settings.result_backend),
            **keys.transport_options(settings),
        },
        # A producer keeps trying to send for ~30 s while Redis restarts, then says so.
        "task_publish_retry_policy": {
            "max_retries": 30,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": 1.0,
        },
        # JSON only: a worker must never unpickle what arrives over the network.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_default_queue": settings.queue,
        # One queue per served model, and the plain one for the default model (routing.py).
        "task_queues": [Queue(q, Exchange(q), routing_key=q) for q in worker_queues(settings)],
        # A task is acknowledged only once it is done, and requeued if its child dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # A redelivered task must not run beside its still-running twin (celery#6951).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "result_expires": settings.result_expires,
        # MODELFLEET_TASK_EVENTS: Flower's view of each task, at a measured cost per task.
        "worker_send_task_events": settings.task_events,
        "task_send_sent_event": settings.task_events,
        "worker_pool": "prefork",
        "worker_concurrency": settings.worker_concurrency,
        # Celery kills a child that has not reported "up" after 4 s, which is shorter than most
        # model loads; the worker would then restart children forever.
        "worker_proc_alive_timeout": settings.model_load_timeout + 30,
        "worker_max_tasks_per_child": settings.max_tasks_per_child,
        "worker_max_memory_per_child": settings.max_memory_per_child,
        "task_soft_time_limit": settings.task_soft_time_limit,
        "task_time_limit": settings.task_time_limit,
        "worker_disable_rate_limits": True,
    }
