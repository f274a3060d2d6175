"""What the fleet looks like right now: workers, their children and model, and queue depth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from producer.connection import client_app
from producer.stranded import StrandedTasks, find_stranded
from worker_config import clients, keys
from worker_config.records import queue_owners, registry
from worker_config.settings import Settings

#: kombu's priority sub-lists beside each queue list (the deploy files' KEDA triggers name them).
PRIORITY_SEP, PRIORITY_STEPS = keys.PRIORITY_SEP, keys.PRIORITY_STEPS


@dataclass
class ChildInfo:
    pid: int
    model: str
    version: str
    load_seconds: float
    loads: int
    #: The reload request (``modelfleet reload``) the child's model comes from; 0: the first load.
    generation: int = 0
    #: The last reload that failed in this child, which still serves the version above.
    reload_error: dict[str, Any] | None = None
    #: What the model reports about itself, e.g. ``torch_threads``.
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class WorkerInfo:
    hostname: str
    concurrency: int
    pids: list[int]
    children: list[ChildInfo] = field(default_factory=list)


@dataclass
class QueueInfo:
    """A queue, the tasks waiting in it, and the workers consuming it (none: nobody serves it)."""

    name: str
    depth: int
    consumers: list[str]
    #: The model its tasks get, claimed by the pools serving it (None: no live claim).
    model: str | None = None
    #: That model's plug-in (its family: built-in name or module:factory).
    plugin: str | None = None


@dataclass
class FleetStatus:
    queue: str
    queue_depth: int
    workers: list[WorkerInfo]
    #: The plain queue and every per-model queue that has tasks or consumers.
    queues: list[QueueInfo] = field(default_factory=list)
    #: Other lists holding modelfleet tasks that no modelfleet pool consumes (e.g. ``celery``).
    stranded: list[StrandedTasks] = field(default_factory=list)


def queue_depth(client: redis.Redis, settings: Settings, queue: str) -> int:
    """Messages waiting in ``queue``, priority sub-lists included."""
    with client.pipeline() as pipe:
        for name in keys.queue_lists(settings, queue):
            pipe.llen(name)
        return sum(int(n) for n in pipe.execute())


def queue_names(client: redis.Redis, settings: Settings, queue: str) -> set[str]:
    """The plain queue and the per-model queues ``<queue>.<model>`` that exist in Redis now."""
    pattern = keys.queue_pattern(settings, queue + ".")
    names = {queue}
    for key in client.scan_iter(match=pattern, count=1000, _type="list"):
        name = key.decode() if isinstance(key, bytes) else str(key)
        names.add(keys.queue_name(settings, name))
    return names


def child_loads(
    settings: Settings, hostname: str, client: redis.Redis | None = None
) -> dict[int, ChildInfo]:
    """Per child PID: the model it loaded and how many times it loaded it."""
    records, loads = registry.read(client or clients.backend(settings), settings, hostname)
    info = {}
    for pid, record in records.items():
        info[pid] = ChildInfo(
            pid=pid,
            model=record["model"],
            version=record["version"],
            load_seconds=record["load_seconds"],
            loads=loads.get(pid, 0),
            generation=int(record.get("generation", 0)),
            reload_error=record.get("reload_error"),
            details=record.get("details") or {},
        )
    return info


def fleet_status(settings: Settings, timeout: float = 1.0) -> FleetStatus:
    """Ask every worker for its pool over the broker, and Redis for models and queue depth."""
    app = client_app(settings)
    try:
        inspect = app.control.inspect(timeout=timeout)
        stats: dict[str, Any] = inspect.stats() or {}
        active: dict[str, Any] = (inspect.active_queues() or {}) if stats else {}
    finally:
        app.close()
    client, broker = clients.backend(settings), clients.broker(settings)
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
    consumers: dict[str, list[str]] = {}
    for hostname, queues in sorted(active.items()):
        for queue in queues or []:
            consumers.setdefault(queue["name"], []).append(hostname)
    ours = {q for q in consumers if q == settings.queue or q.startswith(settings.queue + ".")}
    owners = queue_owners.read(client, settings)
    names = queue_names(broker, settings, settings.queue) | ours | set(owners)
    queues = [
        QueueInfo(
            name,
            queue_depth(broker, settings, name),
            consumers.get(name, []),
            owners.get(name, {}).get("model"),
            owners.get(name, {}).get("plugin"),
        )
        for name in sorted(names)
    ]
    depth = next(q.depth for q in queues if q.name == settings.queue)
    # Every list a modelfleet pool (one consuming any of our queues) consumes, and our queues.
    pools = [set(consumed) for consumed in _queues_by_worker(active).values()]
    consumed = set(names).union(*(q for q in pools if q & names))
    return FleetStatus(
        queue=settings.queue,
        queue_depth=depth,
        workers=workers,
        queues=queues,
        stranded=find_stranded(broker, settings, consumed),
    )


def _queues_by_worker(active: dict[str, Any]) -> dict[str, list[str]]:
    return {host: [q["name"] for q in queues or []] for host, queues in active.items()}


def queue_lines(fleet: FleetStatus) -> list[str]:
    """One line per queue: its depth, who consumes it, and the model its tasks get."""
    return [
        f"{q.name}: {q.depth} waiting, "
        + (f"consumed by {', '.join(q.consumers)}" if q.consumers else "NO WORKER consumes it")
        + (f"; model '{q.model}' ({q.plugin})" if q.model else "; no model claims it")
        for q in fleet.queues
    ]


def stranded_warnings(fleet: FleetStatus, settings: Settings) -> list[str]:
    """What to do about modelfleet tasks waiting on lists no modelfleet pool consumes."""
    from producer.stranded import stranded_warning

    return [stranded_warning(s, settings) for s in fleet.stranded]


def unserved_warnings(fleet: FleetStatus) -> list[str]:
    """What to do about each queue that has tasks waiting and no worker consuming it."""
    warnings = []
    for q in fleet.queues:
        if q.depth and not q.consumers:
            model = q.name.removeprefix(fleet.queue + ".") if q.name != fleet.queue else None
            fix = (
                f"start a worker with MODELFLEET_MODEL={model}"
                if model
                else "start a worker that serves the default model (`celery -A tasks worker`)"
            )
            warnings.append(
                f"{q.depth} tasks wait on queue {q.name!r} and no worker consumes it: {fix}"
            )
    return warnings
