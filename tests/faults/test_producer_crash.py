"""A producer killed mid-send leaves a job that ``modelfleet job ID --resume`` completes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import redis

from tests.conftest import WorkerFactory, run_cli, settings_for
from tests.faults import plugins
from tests.faults.conftest import executions
from worker_config import keys

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

IDS, BATCH = 4_000, 2  # 2,000 tasks in 2 pipelined chunks: the kill lands before the last


def test_a_producer_killed_mid_send_leaves_a_job_that_resume_completes_exactly_once(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    settings = settings_for(fault_env)
    broker = redis.Redis.from_url(fault_env["CELERY_BROKER_URL"])
    backend = redis.Redis.from_url(fault_env["CELERY_RESULT_BACKEND"])
    queue = fault_env["MODELFLEET_QUEUE"]
    producer = subprocess.Popen(
        [sys.executable, "-m", "producer", "enqueue", f"0-{IDS - 1}", "--job-id", "-b", str(BATCH)],
        env=fault_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not broker.llen(queue) and producer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    producer.send_signal(signal.SIGKILL)
    producer.wait()
    queued = broker.llen(queue)
    assert 0 < queued < IDS // BATCH, f"not killed mid-send: {queued} tasks queued"
    (meta_key,) = [k.decode() for k in backend.scan_iter(keys.jobs_pattern(settings))
                   if not k.decode().endswith((":tasks", ":batches"))]  # fmt: skip
    job_id = meta_key.rsplit(":", 1)[-1]

    shown = run_cli(fault_env, "job", job_id)
    assert shown.returncode == 8 and f"of {IDS}" in shown.stdout + shown.stderr, shown

    worker_factory(concurrency=2, env=fault_env)
    resumed = run_cli(fault_env, "job", job_id, "--resume")
    assert f"sent {IDS // BATCH - queued} of its {IDS // BATCH} tasks" in resumed.stderr, resumed
    again = run_cli(fault_env, "job", job_id, "--resume")  # nothing left to send
    assert "sent 0 of" in again.stderr, again
    done = run_cli(fault_env, "job", job_id, "--results", "--wait", "--timeout", "240", timeout=260)
    assert done.returncode in (0, 1), done.stderr[-500:]  # complete (1: UnknownInput items)
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == list(range(IDS)), "missing or repeated IDs"
    runs = executions(settings, plugins.starts_key(settings))
    assert max(runs.values()) == 1, "an ID ran twice"
    broker.close()
    backend.close()
    print(
        "fault outcome:",
        json.dumps({"fault": "producer SIGKILLed mid-send, then --resume", "sent": IDS,
                    "queued_before_kill": queued, "results": len(items), "duplicates": 0,
                    "lost": 0}),
    )  # fmt: skip
