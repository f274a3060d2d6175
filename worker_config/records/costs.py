"""What a batch costs on this fleet: children record (batch size, seconds) samples in Redis, so
producers can fit time(n) and size batches without being told (``worker_config/cost_model.py``;
a child sizes its own micro-batches from the same samples, ``runtime/microbatch.py``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field

import redis

from worker_config import clients, keys
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Seconds between a child's writes of its samples: one small HSET, never per task (a batch
#: size in a range not yet seen is written at once: that is what the fit most needs).
FLUSH_EVERY = 2.0
#: Samples kept per power-of-two range of batch sizes (1, 2-3, 4-7, ...): the newest few, so a
#: child's record stays small (at most ~18 ranges x 4 pairs) and follows a changing machine.
SAMPLES_PER_RANGE = 4
#: Seconds after which a child's record no longer counts (it may have stopped).
STALE_AFTER = 600.0

#: One measured batch: (number of IDs, seconds the child spent on it).
Sample = tuple[int, float]


def costs_key(settings: Settings, model: str) -> str:
    """The hash of per-child samples of ``model``: field ``<pid>@<host>``, value JSON."""
    return keys.costs(settings, model)


@dataclass
class Meter:
    """One child's recent samples of one model, by range of batch size, and its last write."""

    ranges: dict[int, list[Sample]] = field(default_factory=dict)
    flushed_at: float = 0.0
    added: int = 0  # samples ever added: a cheap "has it changed" for whoever fits them

    def add(self, items: int, seconds: float) -> bool:
        """Keep the sample; True if it is the first of its range (worth writing at once)."""
        self.added += 1
        kept = self.ranges.setdefault(items.bit_length(), [])
        kept.append((items, seconds))
        del kept[:-SAMPLES_PER_RANGE]
        return len(kept) == 1

    def samples(self) -> list[Sample]:
        return [s for _, kept in sorted(self.ranges.items()) for s in kept]


def observe(meters: dict[str, Meter], model: str, items: int, seconds: float) -> None:
    """Record one batch's time in a child's ``meters``; write them to Redis now and then."""
    if items < 1 or seconds <= 0:
        return
    meter = meters.setdefault(model, Meter())
    new_range = meter.add(items, seconds)
    now = time.monotonic()
    if not new_range and now - meter.flushed_at < FLUSH_EVERY:
        return
    meter.flushed_at = now
    settings = get_settings()
    try:
        client = clients.backend(settings, clients.Purpose.SHORT)
        record = {"samples": meter.samples(), "at": time.time()}
        field_name = f"{os.getpid()}@{os.uname().nodename}"
        client.hset(costs_key(settings, model), field_name, json.dumps(record))
    except redis.RedisError as exc:  # sizing hints never get in the way of serving
        logger.debug("could not record batch costs: %s", exc)


@dataclass(frozen=True)
class FleetCosts:
    """What the producer learns: every fresh sample of the fleet, and how many children sent."""

    samples: list[Sample]
    children: int


def read(client: redis.Redis, settings: Settings, model: str) -> FleetCosts:
    """The fleet's recent samples of ``model`` (records of older workers are skipped)."""
    now = time.time()
    samples: list[Sample] = []
    children = 0
    for raw in client.hvals(costs_key(settings, model)):
        try:
            record = json.loads(raw)
            if now - float(record["at"]) >= STALE_AFTER:
                continue
            mine = [(int(n), float(s)) for n, s in record["samples"]]
        except (ValueError, KeyError, TypeError):
            continue
        samples += [(n, s) for n, s in mine if n > 0 and s > 0]
        children += 1
    return FleetCosts(samples, children)
