"""The worker parent's periodic work, as Celery bootsteps whose ``stop()`` cancels their timer.

Each runs a small function from the worker's timer, in the parent's event loop, from the moment the
worker starts until it stops: no thread, and nothing left scheduled after shutdown. ``lifecycle.py``
adds them to the worker blueprint (``app.steps["worker"]``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import bootsteps
from celery.worker import state as worker_state

from worker_config.observe import probes
from worker_config.runtime.startup import EX_MODEL_LOAD
from worker_config.runtime.state import current

logger = logging.getLogger(__name__)

#: Seconds between the parent's checks for a child that failed to load the model.
LOAD_FAILURE_POLL = 0.25


class Repeating(bootsteps.StartStopStep):
    """Calls ``tick(worker)`` every ``interval(worker)`` seconds until the worker stops."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        #: The timer entry while started; cancelled (and dropped) by ``stop``.
        self.tref: Any = None

    def interval(self, worker: Any) -> float:
        raise NotImplementedError

    def tick(self, worker: Any) -> None:
        raise NotImplementedError

    def start(self, parent: Any) -> None:
        self.tref = parent.timer.call_repeatedly(self.interval(parent), self.tick, (parent,))

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def terminate(self, parent: Any) -> None:  # a cold shutdown stops us the same way
        self.stop(parent)


class LoadFailureWatch(Repeating):
    """Stop the worker with ``EX_MODEL_LOAD`` once a child could not load its model.

    A child that just exits is replaced by the pool and fails again forever; it sets a byte
    shared with the parent (``runtime/startup.py``) instead, which this step polls.
    """

    def interval(self, worker: Any) -> float:
        return LOAD_FAILURE_POLL

    def tick(self, worker: Any) -> None:
        if current().load_failed[0]:
            logger.critical(
                "modelfleet: a pool child could not load the model; stopping the worker"
            )
            # Celery's own signal handlers stop the worker the same way.
            worker_state.should_stop = EX_MODEL_LOAD  # type: ignore[assignment]


def consumed_queues(worker: Any) -> list[str] | None:
    """Names of the queues the worker's task consumer consumes now (None before it exists)."""
    consumer = getattr(getattr(worker, "consumer", None), "task_consumer", None)
    if consumer is None:
        return None
    return sorted(queue.name for queue in consumer.queues)


class ProbeHeartbeat(Repeating):
    """Rewrite the probe state file (``observe/probes.py``) with the pool's current children."""

    requires = ("celery.worker.components:Pool",)

    def interval(self, worker: Any) -> float:
        return probes.HEARTBEAT_SECONDS

    def tick(self, worker: Any) -> None:
        probes.beat(worker.pool.info if worker.pool is not None else {}, consumed_queues(worker))

    def start(self, parent: Any) -> None:
        self.tick(parent)  # children are known now: no need to wait one interval
        super().start(parent)
