"""What the fleet looks like right now: workers, their children and model, and queue depth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

from producer.connection import client_app
from worker_config.child import registry_keys
from worker_config.settings import Settings

#: kombu's Redis transport keeps priority sub-lists beside the queue list under these names.
PRIORITY_SEP = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


@dataclass
class ChildInfo:
    pid: int
    model: str
    version: str
    load_seconds: float
    loads: int


@dataclass
class WorkerInfo:
    hostname: str
    concurrency: int
    pids: list[int]
    children: list[ChildInfo] = field(default_factory=list)


@dataclass
class FleetStatus:
    queue: str
    queue_depth: int
    workers: list[WorkerInfo]


def queue_depth(client: redis.Redis, queue: str) -> int:
    """Messages waiting in ``queue``, priority sub-lists included."""
    names = [queue] + [f"{queue}{PRIORITY_SEP}{p}" for p in PRIORITY_STEPS]
    with client.pipeline() as pipe:
        for name in names:
            pipe.llen(name)
        return sum(int(n) for n in pipe.execute())


def child_loads(
    settings: Settings, hostname: str, client: redis.Redis | None = None
) -> dict[int, ChildInfo]:
    """Per child PID: the model it loaded and how many times it loaded it."""
    children_key, loads_key = registry_keys(settings, hostname)
    own = client is None
    client = client or redis.Redis.from_url(settings.result_backend)
    try:
        records: dict[Any, Any] = client.hgetall(children_key)
        loads: dict[Any, Any] = client.hgetall(loads_key)
    finally:
        if own:
            client.close()
    info = {}
    for pid, raw in records.items():
        record = json.loads(raw)
        info[int(pid)] = ChildInfo(
            pid=int(pid),
            model=record["model"],
            version=record["version"],
            load_seconds=record["load_seconds"],
            loads=int(loads.get(pid, 0)),
        )
    return info


def fleet_status(settings: Settings, timeout: float = 1.0) -> FleetStatus:
    """Ask every worker for its pool over the broker, and Redis for models and queue depth."""
    app = client_app(settings)
    try:
        stats: dict[str, Any] = app.control.inspect(timeout=timeout).stats() or {}
    finally:
        app.close()
    client = redis.Redis.from_url(settings.result_backend)
    broker = redis.Redis.from_url(settings.broker_url)
    workers = []
    for hostname, worker in sorted(stats.items()):
        pool = worker.get("pool", {})
        pids = [int(p) for p in pool.get("processes", [])]
        loaded = child_loads(settings, hostname, client)
        workers.append(
            WorkerInfo(
                hostname=hostname,
                concurrency=int(pool.get("max-concurrency", len(pids))),
                pids=pids,
                children=[loaded[p] for p in pids if p in loaded],
            )
        )
    depth = queue_depth(broker, settings.queue)
    client.close()
    broker.close()
    return FleetStatus(queue=settings.queue, queue_depth=depth, workers=workers)
