"""The parent claims the queues it consumes for its models before any child starts, and
renews the claims while it runs (``records/queue_owners.py`` says why: one model per queue)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import redis

from worker_config import clients
from worker_config.celeryconfig import EX_CONFIG
from worker_config.plugins import BUILTIN_MODELS
from worker_config.records import queue_owners
from worker_config.routing import queue_models, served_models
from worker_config.runtime.state import current
from worker_config.settings import get_settings

logger = logging.getLogger(__name__)


def claim_all(hostname: str) -> str | None:
    """Claim (or renew) every queue of this pool; the refusal line for the first one refused.

    Raises ``redis.RedisError`` when Redis cannot be asked.
    """
    settings = get_settings()
    targets = served_models(settings)
    client = clients.backend(settings, clients.Purpose.SHORT)
    for queue, model in queue_models(settings).items():
        # The plug-in is the model's family: new weights and reloads keep it, another factory not.
        plugin = BUILTIN_MODELS.get(targets[model], targets[model])
        owner = queue_owners.claim(
            client, settings, queue, model=model, plugin=plugin, worker=hostname
        )
        if owner is not None:
            return queue_owners.refusal(queue, owner, model, plugin)
    return None


def claim_queues(**_: Any) -> None:
    """``worker_init``: exit ``EX_CONFIG`` with one line if a queue belongs to another model."""
    try:
        refused = claim_all(current().hostname)
    except redis.RedisError as exc:  # the renewal step claims them once Redis answers
        logger.warning("could not claim this pool's queues in Redis yet: %s", exc)
        return
    if refused:
        print(f"modelfleet: {refused}", file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG)
