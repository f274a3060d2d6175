"""How far a recorded job has got, read from its result keys: what ``modelfleet job`` shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from producer.jobs import Job
from worker_config.contract import ResultItem

#: Result keys read per round trip when a job's progress is counted.
READ_WINDOW = 500


@dataclass
class JobProgress:
    """Item counts of a job: done (an output), failed (an error item) and still pending."""

    job_id: str
    total: int
    done: int
    failed: int
    tasks: int
    tasks_finished: int
    created: float

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed

    @property
    def complete(self) -> bool:
        return self.tasks_finished == self.tasks


def finished_batches(job: Job) -> dict[int, list[ResultItem]]:
    """Items of every task that has finished, by batch index; tasks still running are absent."""
    found: dict[int, list[ResultItem]] = {}
    for start in range(0, len(job.task_ids), READ_WINDOW):
        found.update(job.fetch(list(range(start, min(start + READ_WINDOW, len(job.task_ids))))))
    return found


def progress(job: Job, created: float, finished: dict[int, list[ResultItem]]) -> JobProgress:
    items = [item for batch in finished.values() for item in batch]
    failed = sum("error" in item for item in items)
    return JobProgress(
        job_id=job.id,
        total=job.size,
        done=len(items) - failed,
        failed=failed,
        tasks=len(job.task_ids),
        tasks_finished=len(finished),
        created=created,
    )


def items_in_order(
    job: Job, finished: dict[int, list[ResultItem]], errors_only: bool = False
) -> Iterator[ResultItem]:
    """Finished items in input order; unfinished batches are skipped (partial results)."""
    for index in range(len(job.batches)):
        for item in finished.get(index, ()):
            if not errors_only or "error" in item:
                yield item
