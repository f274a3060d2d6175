"""Which tasks without a result are nowhere: not waiting in a queue, not held by a worker.

Celery reports ``PENDING`` alike for a task that waits, one it never heard of, one whose result
expired and one purged from its queue. The broker can tell them apart: a task that will still run
is in a queue list (any list of the broker database, so tasks sent without ``queue=`` count) or
in kombu's ``unacked`` hash while a worker holds it; its result is stored before it leaves that
hash. A worker moves a message from the list to ``unacked`` in two steps, so a task found nowhere
is looked for once more after :data:`RECHECK` seconds before it is called missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import redis

from worker_config import clients, keys
from worker_config.settings import Settings

#: Seconds between the two looks (longer than kombu's list-to-unacked step takes).
RECHECK = 0.5
#: Queue entries read per LRANGE.
CHUNK = 1000


def missing(settings: Settings, task_ids: Iterable[str]) -> set[str]:
    """The IDs, of ``task_ids``, that have no result and are in no queue or worker."""
    left = set(task_ids)
    for attempt in range(2):
        if not left:
            break
        if attempt:
            time.sleep(RECHECK)
        left -= _with_result(settings, left)
        left -= _in_broker(settings, left)
    return left


def _with_result(settings: Settings, task_ids: set[str]) -> set[str]:
    ordered = sorted(task_ids)
    backend = clients.backend(settings, clients.Purpose.SHORT)
    with backend.pipeline(transaction=False) as pipe:
        for task_id in ordered:
            pipe.exists(keys.result(settings, task_id))
        found = pipe.execute()
    return {task_id for task_id, exists in zip(ordered, found, strict=True) if exists}


def _in_broker(settings: Settings, task_ids: set[str]) -> set[str]:
    if not task_ids:
        return set()
    broker = clients.broker(settings, clients.Purpose.SHORT)
    needles = {task_id: task_id.encode() for task_id in task_ids}
    found: set[str] = set()

    def look(entries: Iterable[bytes | str]) -> None:
        for entry in entries:
            data = entry.encode() if isinstance(entry, str) else entry
            found.update(t for t, needle in needles.items() if needle in data)

    for key in broker.scan_iter(match=f"{settings.global_keyprefix}*", _type="list", count=1000):
        for start in range(0, _length(broker, key), CHUNK):
            look(broker.lrange(key, start, start + CHUNK - 1))
    look(value for _, value in broker.hscan_iter(keys.unacked(settings), count=1000))
    return found


def _length(broker: redis.Redis, key: bytes) -> int:
    return int(broker.llen(key))
