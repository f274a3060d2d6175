"""Every Redis key modelfleet reads or writes, named in one place.

All of them start with ``MODELFLEET_GLOBAL_KEYPREFIX`` (kombu's ``global_keyprefix``, which
celeryconfig.py hands to kombu and to Celery's result backend), so one Redis can hold several
fleets or other apps' keys. kombu's and Celery's key names come from their own classes rather
than being typed again here. The ``redis`` input source's keys (``MODELFLEET_INPUT_PREFIX``)
belong to the apps that write them and get no prefix.
"""

from __future__ import annotations

from bisect import bisect

from celery.backends.base import KeyValueStoreBackend
from kombu.transport.redis import Channel

from worker_config.settings import Settings

#: kombu keeps priority sub-lists beside each queue list: ``<queue><SEP><step>``.
PRIORITY_SEP: str = Channel.sep
PRIORITY_STEPS: tuple[int, ...] = tuple(step for step in Channel.priority_steps if step)
#: kombu's hash of delivered, unacknowledged messages and its index, before any global prefix.
UNACKED: str = Channel.unacked_key
UNACKED_INDEX: str = Channel.unacked_index_key
#: Celery's separators after which it adds no ``_`` to a result backend's global prefix.
_CELERY_PREFIX_ENDS = ":_-."


def _own(settings: Settings) -> str:
    return settings.global_keyprefix + settings.key_prefix


# -- modelfleet's own records ------------------------------------------------------------------


def costs(settings: Settings, model: str) -> str:
    """Hash of per-child seconds per item of ``model`` (records/costs.py)."""
    return f"{_own(settings)}costs:{model}"


def dead_letters(settings: Settings) -> str:
    """List of dead-lettered inputs, newest first (records/dead_letters.py)."""
    return f"{_own(settings)}dead-letters"


def delivery(settings: Settings, task_id: str) -> str:
    """Hash counting a task's deliveries after a death (runtime/deliveries.py)."""
    return f"{_own(settings)}delivery:{task_id}"


def taken(settings: Settings, hostname: str, parent_pid: int) -> str:
    """Hash, in the broker: delivery tag -> PID of the pool child of the worker ``hostname``
    (main process ``parent_pid``) that took the task as a micro-batch follower
    (runtime/microbatch.py, celery_ext/follower_rescue.py). The PID keeps two workers that
    were given the same name from requeueing each other's tasks."""
    return f"{_own(settings)}taken:{hostname}:{parent_pid}"


def replica_ack(settings: Settings) -> str:
    """Key written just before a ``WAIT``, so it covers every earlier write (replication.py)."""
    return f"{_own(settings)}replica-ack"


def worker_registry(settings: Settings, hostname: str) -> tuple[str, str]:
    """Hashes of a worker's children (their model) and of how often each loaded it."""
    base = f"{_own(settings)}worker:{hostname}"
    return f"{base}:children", f"{base}:loads"


def job(settings: Settings, job_id: str) -> tuple[str, str, str]:
    """A job's metadata hash, its task-ID list and its batch list (producer/jobs.py)."""
    base = f"{_own(settings)}job:{job_id}"
    return base, f"{base}:tasks", f"{base}:batches"


def jobs_index(settings: Settings) -> str:
    """Sorted set of recent job IDs, scored by creation time (``modelfleet jobs``)."""
    return f"{_own(settings)}jobs"


def queue_owners(settings: Settings) -> str:
    """Hash of each queue's model, claimed by the pools consuming it (records/queue_owners.py)."""
    return f"{_own(settings)}queue-owners"


def jobs_pattern(settings: Settings) -> str:
    """The keys of every job, as a pattern for messages and ``SCAN``."""
    return f"{_own(settings)}job:*"


# -- kombu's and Celery's keys -----------------------------------------------------------------


def queue(settings: Settings, name: str) -> str:
    """The list a queue's messages wait in (priority 0)."""
    return settings.global_keyprefix + name


def queue_lists(settings: Settings, name: str) -> list[str]:
    """A queue's list and its priority sub-lists, as kombu names them."""
    base = queue(settings, name)
    return [base] + [f"{base}{PRIORITY_SEP}{step}" for step in PRIORITY_STEPS]


def queue_for_priority(settings: Settings, name: str, priority: int) -> str:
    """The list kombu's Redis transport pushes a message of ``priority`` (0-9) to."""
    pri = max(Channel.min_priority, min(int(priority), Channel.max_priority))
    steps = Channel.priority_steps
    step = steps[bisect(steps, pri) - 1]
    return f"{queue(settings, name)}{PRIORITY_SEP}{step}" if step else queue(settings, name)


def queue_pattern(settings: Settings, name: str) -> str:
    """A ``SCAN`` pattern for the lists of queues whose names start with ``name``."""
    escaped = "".join(f"\\{c}" if c in "*?[]\\" else c for c in queue(settings, name))
    return escaped + "*"


def queue_name(settings: Settings, key: str) -> str:
    """The queue a list key (or priority sub-list) belongs to."""
    return key.removeprefix(settings.global_keyprefix).split(PRIORITY_SEP)[0]


def unacked(settings: Settings) -> str:
    """kombu's hash of delivered, unacknowledged messages by delivery tag."""
    return settings.global_keyprefix + UNACKED


def unacked_index(settings: Settings) -> str:
    """kombu's sorted set of unacknowledged delivery tags, scored by delivery time."""
    return settings.global_keyprefix + UNACKED_INDEX


def result(settings: Settings, task_id: str) -> str:
    """Celery's result key of a task, as its Redis backend names it (with a global prefix)."""
    prefix = settings.global_keyprefix
    if prefix and prefix[-1] not in _CELERY_PREFIX_ENDS:
        prefix += "_"
    return f"{prefix}{KeyValueStoreBackend.task_keyprefix}{task_id}"


def transport_options(settings: Settings) -> dict[str, str]:
    """What kombu and Celery's result backend need to put the same prefix on their keys."""
    return {"global_keyprefix": settings.global_keyprefix} if settings.global_keyprefix else {}
