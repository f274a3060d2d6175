"""The Redis master SIGKILLed mid-run under Sentinel: the replica takes over, work goes on.

A master, a replica and three sentinels (``sentinel_group.py``); 10,000 IDs in per-ID tasks
and 10,000 in batches of 10, interleaved; the master is killed once 4,000 of them ran, and
half the per-ID tasks are sent only after the kill. Workers and producers find the new master
on their own. Run with and without ``MODELFLEET_REPLICA_ACKS`` (replication is asynchronous:
what the dead master had not passed on is gone unless a write waited for the replica). Each
run prints one line per job for the closing table; ``FAULT_REPORT=path`` appends them as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from producer import FleetExecutor, Job
from tests.conftest import WorkerFactory, settings_for
from tests.faults.sentinel_group import MASTER_NAME, SentinelGroup, start_group

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

#: IDs per job; the batch job's are 0.., the per-ID job's start at PER_ID_BASE.
IDS, PER_ID_BASE, BATCH = 10_000, 100_000, 10
#: Parts each job is sent in, interleaved on the queue.
PARTS = 5
#: Predictions finished before the master is killed.
KILL_AFTER = 4_000
#: Seconds without a new result after which a missing one counts as lost (the visibility
#: timeout is 8 s: a task cancelled by the failover comes back well within it).
QUIET = 30.0


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    started = start_group(tmp_path / "sentinel")
    yield started
    started.stop()


def executions(log_dir: Path) -> Counter[int]:
    """Predictions finished per ID, from the children's own files (not from Redis)."""
    runs: Counter[int] = Counter()
    for path in log_dir.glob("*.txt"):
        runs.update(int(line) for line in path.read_text().split())
    return runs


def collect(job: Job, killed_at: float) -> tuple[set[object], float | None]:
    """IDs with a result once no new result came for QUIET seconds, and seconds from the kill
    to the first result stored after it."""
    backend: Any = job.app.backend
    keys = [backend.get_key_for_task(task_id) for task_id in job.task_ids]
    done: set[int] = set()
    first_after: float | None = None
    last_new = time.monotonic()
    while len(done) < len(keys) and time.monotonic() - last_new < QUIET:
        todo = [i for i in range(len(keys)) if i not in done]
        try:
            values = backend.client.mget([keys[i] for i in todo])
        except OSError:  # redis.ConnectionError is one: the master is changing, ask again
            values = [None] * len(todo)
        for i, raw in zip(todo, values, strict=True):
            meta = backend.decode_result(raw) if raw is not None else None
            if meta is None or meta["status"] != "SUCCESS":
                continue
            done.add(i)
            last_new = time.monotonic()
            stored = datetime.fromisoformat(meta["date_done"]).timestamp()
            if stored > killed_at and (first_after is None or stored - killed_at < first_after):
                first_after = stored - killed_at
        time.sleep(0.2)
    return {x for i in done for x in job.batches[i]}, first_after


@pytest.mark.parametrize("replica_acks", [0, 1], ids=["async-replication", "replica-acks"])
def test_master_killed_replica_promoted_workers_and_producers_go_on(
    group: SentinelGroup,
    worker_factory: WorkerFactory,
    fault_env: dict[str, str],
    tmp_path: Path,
    replica_acks: int,
) -> None:
    log_dir = tmp_path / "executions"
    log_dir.mkdir()
    env = {
        **fault_env,
        "CELERY_BROKER_URL": group.url(0),
        "CELERY_RESULT_BACKEND": group.url(1),
        "MODELFLEET_SENTINEL_MASTER": MASTER_NAME,
        "MODELFLEET_VISIBILITY_TIMEOUT": "8",
        "MODELFLEET_REPLICA_ACKS": str(replica_acks),
        "TEST_EXECUTIONS_DIR": str(log_dir),
        "TEST_WRAP_IDS": "1",
    }
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    executor = FleetExecutor(settings)
    batch_ids = list(range(IDS))
    per_ids = list(range(PER_ID_BASE, PER_ID_BASE + IDS))
    # Interleaved on the queue, so both kinds are running when the master dies.
    batch_jobs: list[Job] = []
    per_id_jobs: list[Job] = []
    step, half = IDS // PARTS, IDS // 2 // PARTS
    for k in range(PARTS):
        batch_jobs.append(executor.submit_batches(batch_ids[k * step : (k + 1) * step], BATCH))
        per_id_jobs.append(executor.submit_each(per_ids[k * half : (k + 1) * half]))
    deadline = time.monotonic() + 120
    while sum(executions(log_dir).values()) < KILL_AFTER:
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)

    group.master.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    after: list[Job] = []
    sender = threading.Thread(
        target=lambda: after.append(executor.submit_each(per_ids[IDS // 2 :]))
    )
    sender.start()  # a producer sending while the master is gone finds the new one itself
    group.wait_promoted()
    sender.join(timeout=90)
    assert after, "the producer gave up sending during the failover"

    runs = executions(log_dir)
    lines = []
    for name, jobs, ids in (
        ("per-ID", per_id_jobs, per_ids),
        (f"batches of {BATCH}", batch_jobs, batch_ids),
    ):
        received: set[object] = set()
        firsts = []
        for job in jobs:
            got, first = collect(job, killed_at)
            received |= got
            firsts.append(first)
        recovery = min((f for f in firsts if f is not None), default=None)
        line = {
            "fault": "Sentinel failover (master SIGKILL)",
            "job": name,
            "replica_acks": replica_acks,
            "sent": len(ids),
            "received": len(received),
            "lost": len(set(ids) - received),
            "duplicates": sum(1 for i in ids if runs[i] > 1),
            "seconds_to_first_new_result": None if recovery is None else round(recovery, 2),
        }
        lines.append(line)
        print(f"fault outcome: {json.dumps(line)}")
    report = os.environ.get("FAULT_REPORT")
    if report:
        with open(report, "a") as handle:
            handle.writelines(json.dumps(line) + "\n" for line in lines)

    assert worker.process.poll() is None, "the worker exited"
    for line in lines:
        assert line["seconds_to_first_new_result"] is not None, f"no result after the kill: {line}"
        assert line["received"] + line["lost"] == line["sent"]
        if replica_acks:  # sends and results waited for the replica: nothing may be lost
            assert line["lost"] == 0, line
