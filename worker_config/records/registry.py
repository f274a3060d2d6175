"""The worker registry: what each pool child serves, kept in Redis for ``modelfleet status``.

Children write their record when they load a model (or reload one); the worker parent clears
it at start and reads it to answer ``modelfleet_info``; producers read it. Living here rather
than in the runtime lets producers read it without importing worker code.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import redis

from worker_config import clients, keys
from worker_config.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds the registry keys live in Redis after the last child loaded.
REGISTRY_TTL = 7 * 86_400

Records = dict[int, dict[str, Any]]


def registry_keys(settings: Settings, hostname: str) -> tuple[str, str]:
    """Redis hashes that record, per worker, each child's model and how often it loaded."""
    return keys.worker_registry(settings, hostname)


def reset(settings: Settings, hostname: str) -> None:
    """Forget the children of an earlier run of this worker (the parent, before forking)."""
    try:
        clients.backend(settings).delete(*registry_keys(settings, hostname))
    except redis.RedisError as exc:
        logger.warning("could not reset the worker registry in Redis: %s", exc)


def record_load(settings: Settings, hostname: str, record: dict[str, Any]) -> None:
    """Record this child's model load; count its loads."""
    children, loads = registry_keys(settings, hostname)
    pid = str(os.getpid())
    try:
        with clients.backend(settings).pipeline() as pipe:
            pipe.hset(children, pid, json.dumps(record))
            pipe.hincrby(loads, pid, 1)
            pipe.expire(children, REGISTRY_TTL)
            pipe.expire(loads, REGISTRY_TTL)
            pipe.execute()
    except redis.RedisError as exc:  # serving matters more than bookkeeping
        logger.warning("could not record the model load in Redis: %s", exc)


def note(settings: Settings, hostname: str, **fields: Any) -> None:
    """Add ``fields`` to this child's record (e.g. the reload it serves)."""
    children, _ = registry_keys(settings, hostname)
    pid = str(os.getpid())
    client = clients.backend(settings)
    try:
        raw = client.hget(children, pid)
        record = json.loads(raw) if raw else {}
        record.update(fields)
        client.hset(children, pid, json.dumps(record))
    except redis.RedisError as exc:  # serving matters more than bookkeeping
        logger.warning("could not record the reload in Redis: %s", exc)


def read(client: redis.Redis, settings: Settings, hostname: str) -> tuple[Records, dict[int, int]]:
    """Each child's record and load count, by PID."""
    children, loads = registry_keys(settings, hostname)
    with client.pipeline(transaction=False) as pipe:
        pipe.hgetall(children)
        pipe.hgetall(loads)
        raw_records, raw_loads = pipe.execute()
    records = {int(pid): json.loads(raw) for pid, raw in raw_records.items()}
    return records, {int(pid): int(n) for pid, n in raw_loads.items()}
