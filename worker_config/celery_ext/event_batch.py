"""Task events published a few milliseconds apart in batches, not one Redis PUBLISH per tick.

Celery's worker parent buffers task events (``task-received``, ``-started``, ``-succeeded``...)
and flushes the buffer at the event loop's next tick. Under load that is one kombu message and
one PUBLISH for every one or two events: a third of the parent's CPU per task with task events
on (py-spy of the plain path). :class:`BatchedEventFlush` flushes at most every
:data:`FLUSH_DELAY` seconds instead, and Celery itself still flushes as soon as its buffer holds
24 events: the same events, in the same order, in fewer messages. Flower sees each one up to
:data:`FLUSH_DELAY` later. Whatever is buffered when the consumer stops is flushed then.
"""

from __future__ import annotations

from typing import Any

from celery import bootsteps

#: Most seconds a task event waits in the parent's buffer before it is published.
FLUSH_DELAY = 0.02


class BatchedEventFlush(bootsteps.StartStopStep):
    """A consumer step: once Celery's ``Events`` step made the dispatcher, delay its flushes."""

    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.tref: Any = None  # the pending flush, if one is scheduled

    def start(self, c: Any) -> None:
        dispatcher = c.event_dispatcher
        if dispatcher is None or c.hub is None or dispatcher.on_send_buffered is None:
            return  # no event loop (eventlet, solo with no hub): Celery does not buffer

        def flush_soon() -> None:
            if self.tref is None:
                self.tref = c.hub.call_later(FLUSH_DELAY, self._flush, c)

        dispatcher.on_send_buffered = flush_soon

    def _flush(self, c: Any) -> None:
        self.tref = None
        c._flush_events()

    def stop(self, c: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if c.event_dispatcher is not None:
            c._flush_events()

    def shutdown(self, c: Any) -> None:
        self.stop(c)
