"""The dead-letter list: inputs that killed their worker process too often, kept for a human.

Each entry is a JSON object in the Redis list ``<MODELFLEET_KEY_PREFIX>dead-letters`` (newest
first): the input ID, the task and queue it came in, the reason and when. ``modelfleet
dead-letters`` lists them and ``--replay`` sends them again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

import redis

from worker_config import keys
from worker_config.contract import InputId
from worker_config.errors import DeadLettered
from worker_config.settings import Settings

#: Entries kept; older ones are dropped so a flood of poison cannot fill Redis.
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class DeadLetter:
    id: InputId
    task_id: str
    task: str
    queue: str
    reason: str
    deliveries: int
    at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeadLetter:
        data: dict[str, Any] = json.loads(raw)
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def list_key(settings: Settings) -> str:
    return keys.dead_letters(settings)


def record(client: redis.Redis, settings: Settings, letters: list[DeadLetter]) -> None:
    """Add entries to the dead-letter list (newest first), keeping at most ``MAX_ENTRIES``."""
    if not letters:
        return
    key = list_key(settings)
    with client.pipeline() as pipe:
        pipe.lpush(key, *(letter.to_json() for letter in letters))
        pipe.ltrim(key, 0, MAX_ENTRIES - 1)
        pipe.execute()


def read(client: redis.Redis, settings: Settings) -> list[tuple[bytes, DeadLetter]]:
    """Every entry, newest first, with its raw value (to remove exactly that entry later)."""
    raw: list[bytes] = client.lrange(list_key(settings), 0, -1)  # type: ignore[assignment]
    return [(value, DeadLetter.from_json(value)) for value in raw]


def remove(client: redis.Redis, settings: Settings, raw_values: list[bytes]) -> None:
    """Remove the given entries (after they were replayed)."""
    key = list_key(settings)
    with client.pipeline() as pipe:
        for value in raw_values:
            pipe.lrem(key, 1, value.decode())
        pipe.execute()


def make(
    input_id: InputId, *, task_id: str, task: str, queue: str, deliveries: int, max_deliveries: int
) -> DeadLetter:
    reason = (
        f"its worker process died all {deliveries} times it ran alone "
        f"(MODELFLEET_MAX_DELIVERIES={max_deliveries})"
    )
    return DeadLetter(input_id, task_id, task, queue, reason, deliveries, time.time())


def error_for(letter: DeadLetter) -> DeadLettered:
    return DeadLettered(
        f"input {letter.id!r} is not run again: {letter.reason}; list it with "
        "`modelfleet dead-letters`, send it again with `modelfleet dead-letters --replay`"
    )
