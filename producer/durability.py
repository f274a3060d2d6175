"""Warnings about broker settings that would lose work: no AOF, or a policy that evicts keys."""

from __future__ import annotations

import redis

from producer.connection import redact
from worker_config import clients
from worker_config.settings import Settings, get_settings

#: Where the README explains the settings.
SEE = "see README 'Redis settings that keep work safe'"


def broker_warnings(url: str, settings: Settings | None = None) -> list[str]:
    """What is unsafe in the broker's configuration, each with the fix; [] when all is well."""
    client = clients.for_url(settings or get_settings(), url, clients.Purpose.SHORT)
    where = redact(url)
    try:
        config: dict[str, str] = {
            **client.config_get("appendonly"),  # type: ignore[dict-item]
            **client.config_get("maxmemory-policy"),  # type: ignore[dict-item]
        }
    except redis.ResponseError as exc:  # CONFIG refused to this user, or renamed
        return [
            f"cannot read the settings of the broker at {where} ({exc}); make sure it runs "
            f"with appendonly yes and maxmemory-policy noeviction ({SEE})"
        ]
    warnings = []
    if str(config.get("appendonly")).lower() != "yes":
        warnings.append(
            f"the broker at {where} runs with appendonly no: a Redis restart loses every queued "
            f"and running task; set appendonly yes ({SEE})"
        )
    policy = str(config.get("maxmemory-policy"))
    if policy != "noeviction":
        warnings.append(
            f"the broker at {where} runs with maxmemory-policy {policy}: when memory runs out "
            f"Redis deletes queued tasks and kombu's bindings; set noeviction ({SEE})"
        )
    return warnings
