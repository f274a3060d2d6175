"""Replica acknowledgements: with ``MODELFLEET_REPLICA_ACKS=N`` a write counts once N replicas
have it.

Redis replicates asynchronously: a master that dies right after acknowledging a write takes
it along, and Sentinel promotes a replica without it. ``WAIT N timeout`` blocks until every
earlier write of the same connection is on N replicas; replication is one ordered stream, so
that also covers what this process wrote on other connections before.
"""

from __future__ import annotations

from typing import Any

import redis

from worker_config import keys
from worker_config.errors import ReplicationUnconfirmed
from worker_config.settings import Settings


def add_wait(pipe: Any, settings: Settings) -> bool:
    """Queue a ``WAIT`` at the end of a non-transactional pipeline; False when acks are off."""
    if not settings.replica_acks:
        return False
    pipe.execute_command("WAIT", settings.replica_acks, settings.replica_ack_timeout_ms)
    return True


def check(acked: object, settings: Settings) -> None:
    """Raise :class:`ReplicationUnconfirmed` if ``WAIT`` answered with too few replicas."""
    if not isinstance(acked, int) or acked < settings.replica_acks:
        raise ReplicationUnconfirmed(
            f"only {acked} of {settings.replica_acks} replicas confirmed a write within "
            f"{settings.replica_ack_timeout_ms} ms; check the replicas (SENTINEL REPLICAS), "
            "or lower MODELFLEET_REPLICA_ACKS"
        )


def confirm(client: redis.Redis, settings: Settings) -> None:
    """Block until what this process wrote so far is on ``MODELFLEET_REPLICA_ACKS`` replicas.

    ``WAIT`` waits for the connection's own last write, so we make one first.
    """
    if not settings.replica_acks:
        return
    with client.pipeline(transaction=False) as pipe:
        pipe.set(keys.replica_ack(settings), b"1", px=60_000)
        add_wait(pipe, settings)
        check(pipe.execute()[-1], settings)
