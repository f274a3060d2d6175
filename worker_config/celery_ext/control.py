"""modelfleet's remote-control commands, registered with Celery by ``register()`` (lifecycle.py).

``modelfleet_info`` asks a worker what it serves, answered by the parent without waking a model:
the parent never loads the model; it reads what each child recorded in the worker registry
(worker_config/records/registry.py) and adds what only it knows: which children are alive and
how many tasks are done. ``celery -A tasks inspect modelfleet_info`` and ``modelfleet status``
ask it.

``modelfleet_reload`` and ``pool_restart`` post a rolling reload (worker_config/runtime/reload.py).
"""

from __future__ import annotations

import os
from typing import Any

import redis
from celery.worker import state as worker_state
from celery.worker.control import control_command, inspect_command

from worker_config import clients
from worker_config.contract import INFO_COMMAND
from worker_config.records import registry
from worker_config.runtime import reload
from worker_config.settings import get_settings


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _registry(hostname: str) -> tuple[registry.Records, dict[int, int]]:
    settings = get_settings()
    # The parent is answering in its event loop: a short timeout, so it is not stuck on Redis.
    return registry.read(clients.backend(settings, clients.Purpose.SHORT), settings, hostname)


def worker_info(hostname: str, pool_info: dict[str, Any]) -> dict[str, Any]:
    """The reply: the pool's children with their model, and task counts since the worker started."""
    pids = [int(p) for p in pool_info.get("processes", [])]
    try:
        records, loads = _registry(hostname)
        registry_error = None
    except (redis.RedisError, ValueError) as exc:
        records, loads, registry_error = {}, {}, str(exc)
    children = []
    for pid in pids:
        record = records.get(pid, {})
        children.append(
            {
                "pid": pid,
                "alive": _alive(pid),
                "model": record.get("model"),
                "version": record.get("version"),
                "load_seconds": record.get("load_seconds"),
                "loads": loads.get(pid, 0),
            }
        )
    active = len(worker_state.active_requests)
    reply: dict[str, Any] = {
        "concurrency": pool_info.get("max-concurrency", len(pids)),
        "children_alive": sum(c["alive"] for c in children),
        "children": children,
        "models": sorted({f"{c['model']} {c['version']}" for c in children if c["model"]}),
        "tasks_done": worker_state.all_total_count[0] - active,
        "tasks_active": active,
    }
    if registry_error:
        reply["registry_error"] = registry_error
    return reply


def modelfleet_info(state: Any, **_: Any) -> dict[str, Any]:
    """Model name and version per child, load time, children alive, tasks done."""
    consumer = state.consumer
    return worker_info(consumer.hostname, consumer.pool.info)


def modelfleet_reload(
    state: Any, model_path: str | None = None, model: str | None = None, **_: Any
) -> dict[str, Any]:
    """Reload the model in every child, one at a time, optionally from a new weights file."""
    generation = reload.request(model_path or None, model or None)
    return {"ok": f"reload generation {generation} started", "generation": generation}


def pool_restart(state: Any, **_: Any) -> dict[str, Any]:
    """A pool restart reloads the model from its configured place, rolling and safely.

    Replaces Celery's own, which restarts every child at once and, with a model that then fails
    to load, would take the worker down.
    """
    return modelfleet_reload(state)


def register() -> None:
    """Add the commands to Celery's registry (replacing its ``pool_restart``); idempotent.

    Called by ``lifecycle.connect`` rather than at import, so that importing this module changes
    nothing; ``celery inspect``/``control`` check names against this registry too.
    """
    inspect_command(name=INFO_COMMAND)(modelfleet_info)
    control_command(args=[("model_path", str), ("model", str)], signature="[model_path [model]]")(
        modelfleet_reload
    )
    control_command(name="pool_restart", args=[("reload", bool)], signature="[reload]")(
        pool_restart
    )
