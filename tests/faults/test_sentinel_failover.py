"""The Redis master SIGKILLed mid-run under Sentinel: the replica takes over, work goes on.

A master, a replica and three sentinels (``sentinel_group.py``); 10,000 IDs in per-ID tasks
and 10,000 in batches of 100, interleaved; the master is killed once 3,000 of them ran, and
the second half of each job is sent only after the kill. Workers and producers find the new
master on their own. Run with and without ``MODELFLEET_REPLICA_ACKS`` (replication is
asynchronous: what the dead master had not passed on is gone unless a write waited for the
replica). Each run prints one line per job for the closing table; ``FAULT_REPORT=path``
appends them as JSON.
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
IDS, PER_ID_BASE, BATCH = 10_000, 100_000, 100
#: Parts each job is sent in, interleaved on the queue.
PARTS = 5
#: Predictions finished before the master is killed (of the 10,000 sent before).
KILL_AFTER = 3_000
#: Seconds without a new result after which a missing one counts as lost (the visibility
#: timeout is 8 s: a task cancelled by the failover comes back well within it).
QUIET = 30.0


@pytest.fixture
def group(tmp_path: Path, replica_acks: int) -> Iterator[SentinelGroup]:
    """One replica; two when sends wait for one, so one is left after the failover."""
    started = start_group(tmp_path / "sentinel", replicas=1 + replica_acks)
    yield started
    started.stop()


def executions(log_dir: Path) -> Counter[int]:
    """Predictions finished per ID, from the children's own files (not from Redis)."""
    runs: Counter[int] = Counter()
    for path in log_dir.glob("*.txt"):
        runs.update(int(line) for line in path.read_text().split())
    return runs


def collect(jobs: list[Job], killed_at: float) -> list[tuple[set[object], float | None]]:
    """Per job: the IDs with a result once no job got a new one for QUIET seconds, and the
    seconds from the kill to the first result stored after it."""
    backend: Any = jobs[0].app.backend
    keys = [[backend.get_key_for_task(t) for t in job.task_ids] for job in jobs]
    done: list[set[int]] = [set() for _ in jobs]
    firsts: list[float | None] = [None for _ in jobs]
    last_new = time.monotonic()
    while time.monotonic() - last_new < QUIET:
        todo = [(j, i) for j, job_keys in enumerate(keys) for i in range(len(job_keys))]
        todo = [(j, i) for j, i in todo if i not in done[j]]
        if not todo:
            break
        try:
            values = backend.client.mget([keys[j][i] for j, i in todo])
        except OSError:  # redis.ConnectionError is one: the master is changing, ask again
            values = [None] * len(todo)
        for (j, i), raw in zip(todo, values, strict=True):
            meta = backend.decode_result(raw) if raw is not None else None
            if meta is None or meta["status"] != "SUCCESS":
                continue
            done[j].add(i)
            last_new = time.monotonic()
            after = datetime.fromisoformat(meta["date_done"]).timestamp() - killed_at
            first = firsts[j]
            if after > 0 and (first is None or after < first):
                firsts[j] = after
        time.sleep(0.5)
    return [
        ({x for i in got for x in job.batches[i]}, first)
        for job, got, first in zip(jobs, done, firsts, strict=True)
    ]


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
    # Interleaved on the queue, so both kinds are running when the master dies; the second
    # half of each is sent after the kill, by a producer that must find the new master.
    batch_jobs: list[Job] = []
    per_id_jobs: list[Job] = []
    half, step = IDS // 2, IDS // 2 // PARTS
    for k in range(PARTS):
        batch_jobs.append(executor.submit_batches(batch_ids[k * step : (k + 1) * step], BATCH))
        per_id_jobs.append(executor.submit_each(per_ids[k * step : (k + 1) * step]))
    deadline = time.monotonic() + 120
    while sum(executions(log_dir).values()) < KILL_AFTER:
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)

    group.master.process.send_signal(signal.SIGKILL)
    killed_at = time.time()
    sent_before = len(per_id_jobs) + len(batch_jobs)

    def send_after_kill() -> None:
        batch_jobs.append(executor.submit_batches(batch_ids[half:], BATCH))
        per_id_jobs.append(executor.submit_each(per_ids[half:]))

    sender = threading.Thread(target=send_after_kill)
    sender.start()
    group.wait_promoted()
    sender.join(timeout=120)
    sent = len(per_id_jobs) + len(batch_jobs)
    assert sent == sent_before + 2, "the producer gave up sending during the failover"

    collected = iter(collect(per_id_jobs + batch_jobs, killed_at))
    runs = executions(log_dir)
    lines = []
    for name, jobs, ids in (
        ("per-ID", per_id_jobs, per_ids),
        (f"batches of {BATCH}", batch_jobs, batch_ids),
    ):
        received: set[object] = set()
        firsts = []
        for _job in jobs:
            got, first = next(collected)
            received |= got
            firsts.append(first)
        recovery = min((f for f in firsts if f is not None), default=None)
        line: dict[str, Any] = {
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
