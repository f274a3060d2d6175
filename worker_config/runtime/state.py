"""Everything a worker process keeps between tasks, in one object instead of module globals.

The parent makes it in ``worker_init`` (``lifecycle.py``), before the fork: what the children
must share (the reload board, the load-failure byte) is made there and inherited. Each pool child
then fills in its own copy: the models it loaded, its batch-cost meters, its micro-batcher.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker_config.runtime.board import Board

if TYPE_CHECKING:
    from worker_config.records.costs import Meter
    from worker_config.runtime.child import Loaded
    from worker_config.runtime.microbatch import MicroBatcher
    from worker_config.settings import Settings


#: The node name of a process that is not a named Celery worker (Celery's own default).
DEFAULT_HOSTNAME = "celery"


def _shared_byte() -> mmap.mmap:
    return mmap.mmap(-1, 1)


@dataclass
class WorkerState:
    """One worker process's state; a pool child starts from a copy of its parent's."""

    #: The worker's node name (``name@host``), as the registry and probe files are keyed.
    hostname: str = DEFAULT_HOSTNAME
    #: Shared with the children: reload requests and their outcome (``reload.py``).
    board: Board = field(default_factory=Board)
    #: Shared with the children: set to 1 by a child whose model failed to load.
    load_failed: mmap.mmap = field(default_factory=_shared_byte)
    #: This worker's probe-file directory, once the parent made it (``observe/probes.py``).
    node_dir: Path | None = None
    #: prometheus-client's multiprocess directory, when metrics are on (``observe/metrics.py``).
    metrics_dir: str | None = None
    #: The metric objects, made in each child on first use.
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Per child: the settings its models were loaded with (a reload may have changed them).
    loaded_with: Settings | None = None
    #: Per child: the models it serves, by their name in ``MODELFLEET_MODEL``.
    models: dict[str, Loaded] = field(default_factory=dict)
    #: Per child: measured (batch size, seconds) samples, by model (``records/costs.py``).
    meters: dict[str, Meter] = field(default_factory=dict)
    #: Per child: the server-side micro-batcher, made on first use, after the fork.
    batcher: MicroBatcher | None = None
    #: Per child: when each running task started, for the per-task log line.
    task_started: dict[str, float] = field(default_factory=dict)


_current: WorkerState | None = None


def start(hostname: str) -> WorkerState:
    """A fresh state for the worker starting now; called once by the parent, before the fork."""
    global _current
    _current = WorkerState(hostname=hostname)
    return _current


def current() -> WorkerState:
    """This process's state. One that never ran ``worker_init`` (a test calling a predictor
    directly) gets a fresh one, so code that only runs in workers needs no second path."""
    return _current or start(DEFAULT_HOSTNAME)
