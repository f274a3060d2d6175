"""Find modelfleet tasks waiting on lists that no modelfleet pool consumes.

Celery sends a task without ``queue=`` to the list ``celery`` (celery-node too), where it waits
forever: nothing errors, nothing says so. ``modelfleet status`` peeks at the head of every list
in the broker database (``SCAN ... TYPE list``, then ``LRANGE`` of a few entries) and reads the
``task`` header of each Celery envelope, which needs no deserialising of the task's arguments.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import redis

from worker_config import keys
from worker_config.contract import PREDICT, PREDICT_BATCH
from worker_config.settings import Settings

#: Entries looked at per list: enough to recognise our tasks, cheap on a list of millions.
PEEK = 10
#: Lists looked at, at most: a shared broker database may hold many.
MAX_LISTS = 1000
#: The tasks that are ours (the public contract's names).
TASK_NAMES = frozenset({PREDICT, PREDICT_BATCH})


@dataclass
class StrandedTasks:
    """A list holding modelfleet tasks that no modelfleet pool consumes."""

    queue: str
    #: Entries in the list (all of its tasks: other apps' too).
    depth: int
    #: Of the first entries looked at, how many are modelfleet tasks, and their names.
    ours: int
    peeked: int
    names: list[str]


def task_name(entry: bytes | str) -> str | None:
    """The task a queue entry (a kombu envelope) carries, or None if it is not a Celery task."""
    try:
        envelope: Any = json.loads(entry)
        headers = envelope.get("headers") or {}
        if isinstance(headers.get("task"), str):  # task protocol 2
            return str(headers["task"])
        body = envelope.get("body")
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        message = json.loads(body)  # task protocol 1: the name is in the body
        return str(message["task"]) if isinstance(message.get("task"), str) else None
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


def find_stranded(
    client: redis.Redis, settings: Settings, consumed: set[str]
) -> list[StrandedTasks]:
    """Lists that are not in ``consumed`` and hold modelfleet tasks at their head."""
    found: dict[str, StrandedTasks] = {}
    for n, raw_key in enumerate(client.scan_iter(count=1000, _type="list")):
        if n >= MAX_LISTS:
            break
        key = raw_key.decode(errors="replace") if isinstance(raw_key, bytes) else str(raw_key)
        if not key.startswith(settings.global_keyprefix):
            continue
        queue = keys.queue_name(settings, key)
        if queue in consumed:
            continue
        # The oldest (kombu pops from the right) and the newest: ours may sit behind others'.
        length = int(client.llen(raw_key))
        entries = client.lrange(raw_key, -PEEK, -1)
        if length > PEEK:
            entries += client.lrange(raw_key, 0, min(PEEK, length - PEEK) - 1)
        names = [task_name(e) for e in entries]
        ours = [name for name in names if name in TASK_NAMES]
        if not ours:
            continue
        stranded = found.setdefault(queue, StrandedTasks(queue, 0, 0, 0, []))
        stranded.depth += length
        stranded.ours += len(ours)
        stranded.peeked += len(entries)
        stranded.names = sorted(set(stranded.names) | set(ours))
    return [found[q] for q in sorted(found)]


def stranded_warning(stranded: StrandedTasks, settings: Settings) -> str:
    """What is wrong and the two ways to fix it."""
    return (
        f"{stranded.depth} tasks wait on list {stranded.queue!r} ({stranded.ours} of the "
        f"{stranded.peeked} oldest and newest are {', '.join(stranded.names)}) and no "
        f"modelfleet worker "
        f"consumes it: the sender left out the queue; send with queue={settings.queue!r} "
        f"(app.send_task(name, args, queue={settings.queue!r}); celery-node: "
        f"createClient(broker, backend, {settings.queue!r})), or start workers with "
        f"MODELFLEET_EXTRA_QUEUES={stranded.queue} to serve that list too"
    )
