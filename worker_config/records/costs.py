"""What a batch costs on this fleet: children record their measured seconds per item in Redis,
so producers can size batches without being told (``producer/batching.py``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass

import redis

from worker_config import clients, keys
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Seconds between a child's writes of its measurements: one small HSET, never per task.
FLUSH_EVERY = 2.0
#: Weight of the newest batch in the moving average of seconds per item.
SMOOTHING = 0.3
#: Batches smaller than this say more about fixed costs than about the model; not recorded.
MIN_ITEMS = 8
#: Seconds after which a child's record no longer counts (it may have stopped).
STALE_AFTER = 600.0


def costs_key(settings: Settings, model: str) -> str:
    """The hash of per-child measurements of ``model``: field ``<pid>@<host>``, value JSON."""
    return keys.costs(settings, model)


@dataclass
class Meter:
    """One child's moving average of seconds per item for one model, and when it last wrote it."""

    per_item: float | None = None
    flushed_at: float = 0.0


def observe(meters: dict[str, Meter], model: str, items: int, seconds: float) -> None:
    """Record one batch's time in a child's ``meters``; flush the average to Redis now and then."""
    if items < MIN_ITEMS:
        return
    meter = meters.setdefault(model, Meter())
    sample = seconds / items
    previous = meter.per_item
    meter.per_item = sample if previous is None else previous + SMOOTHING * (sample - previous)
    now = time.monotonic()
    if now - meter.flushed_at < FLUSH_EVERY:
        return
    meter.flushed_at = now
    settings = get_settings()
    try:
        client = clients.backend(settings, clients.Purpose.SHORT)
        record = {"per_item": meter.per_item, "at": time.time()}
        field = f"{os.getpid()}@{os.uname().nodename}"
        client.hset(costs_key(settings, model), field, json.dumps(record))
    except redis.RedisError as exc:  # sizing hints never get in the way of serving
        logger.debug("could not record batch costs: %s", exc)


@dataclass(frozen=True)
class FleetCosts:
    """What the producer learns: median seconds per item, and how many children reported."""

    per_item: float | None
    children: int


def read(client: redis.Redis, settings: Settings, model: str) -> FleetCosts:
    """The fleet's recent measurements of ``model``."""
    now = time.time()
    samples = []
    for raw in client.hvals(costs_key(settings, model)):
        try:
            record = json.loads(raw)
            if now - float(record["at"]) < STALE_AFTER:
                samples.append(float(record["per_item"]))
        except (ValueError, KeyError, TypeError):
            continue
    if not samples:
        return FleetCosts(None, 0)
    samples.sort()
    return FleetCosts(samples[len(samples) // 2], len(samples))
