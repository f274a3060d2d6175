"""Warn a producer at once when the model it names has no live worker (issue: a typo or an
import path for a name made ``--model`` wait on a queue nobody reads, then time out)."""

from __future__ import annotations

import warnings

import redis

from worker_config import clients
from worker_config.records import queue_owners
from worker_config.routing import model_queue
from worker_config.settings import Settings


class UnservedModelWarning(UserWarning):
    """No live worker serves the model a producer sends to; its tasks wait until one starts."""


def served_models(settings: Settings) -> dict[str, list[str]]:
    """Each model live workers serve -> its queues (from the claims pools renew while they run)."""
    client = clients.backend(settings, clients.Purpose.SHORT)
    models: dict[str, list[str]] = {}
    for queue, owner in sorted(queue_owners.read(client, settings).items()):
        models.setdefault(owner["model"], []).append(queue)
    return models


def unserved_message(settings: Settings, model: str) -> str | None:
    """Why tasks for ``model`` would wait, or None if a live worker serves it (or Redis is down:
    sending reports that)."""
    try:
        models = served_models(settings)
    except (redis.RedisError, OSError):
        return None
    if model in models:
        return None
    served = "; ".join(f"{name} ({', '.join(queues)})" for name, queues in models.items())
    return (
        f"no live worker serves model {model!r}: its tasks wait on queue "
        f"{model_queue(settings, model)!r} until a worker with MODELFLEET_MODEL={model} (or "
        f"{model}=package.module:factory) starts; models served now: {served or 'none'}"
    )


def warn_if_unserved(settings: Settings, model: str | None) -> None:
    """Issue :class:`UnservedModelWarning` (stderr) when nobody serves ``model``."""
    message = unserved_message(settings, model) if model else None
    if message:
        warnings.warn(message, UnservedModelWarning, stacklevel=3)
