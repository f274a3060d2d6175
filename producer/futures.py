"""Futures of single items for ``FleetExecutor.submit``, completed by one polling thread.

Each ``submit`` sends one ``modelfleet.predict`` task (workers micro-batch them) and returns a
``concurrent.futures.Future`` that stays *pending* until the item arrives: Celery cannot say
when a worker starts a task, so ``Future.cancel()`` always succeeds before the result, and
revokes the task (workers drop it if they have not started it; a running one finishes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future

from producer.jobs import Job
from worker_config.contract import ResultItem

#: Seconds between polls of the pending futures' result keys.
POLL_INTERVAL = 0.01


class FuturePoller:
    """Completes the futures of submitted tasks as their results arrive."""

    def __init__(self, revoke: Callable[[str], None]) -> None:
        self._revoke = revoke
        self._pending: dict[Future[ResultItem], Job] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def track(self, job: Job) -> Future[ResultItem]:
        """A future for the one item of ``job``."""
        future: Future[ResultItem] = Future()
        future.add_done_callback(self._on_done)
        with self._lock:
            self._pending[future] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fleet-futures", daemon=True)
                self._thread.start()
        self._wake.set()
        return future

    def cancel_all(self) -> None:
        """Cancel every future still waiting (each revokes its task)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.cancel()

    def stop(self, wait: bool) -> None:
        """Stop polling, after every future is done if ``wait``."""
        if wait and self._thread is not None:
            while True:
                with self._lock:
                    if not self._pending:
                        break
                self._wake.wait(POLL_INTERVAL)
        self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _on_done(self, future: Future[ResultItem]) -> None:
        with self._lock:
            job = self._pending.pop(future, None)
        if future.cancelled() and job is not None:
            self._revoke(job.task_ids[0])

    def _run(self) -> None:
        while not self._stopped:
            with self._lock:
                pending = list(self._pending.items())
            for future, job in pending:
                try:
                    got = job.fetch([0])
                except Exception as exc:  # the backend is gone: every waiter learns why
                    if future.set_running_or_notify_cancel():
                        future.set_exception(exc)
                    continue
                if got and future.set_running_or_notify_cancel():
                    future.set_result(got[0][0])
            self._wake.wait(POLL_INTERVAL)
            self._wake.clear()
