"""Jobs live in Redis: any process can follow one after the producer that sent it has exited."""

from __future__ import annotations

import json
import subprocess
import sys

import redis

from producer.jobs import job_keys
from tests.conftest import WorkerFactory, settings_for


def modelfleet(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_job_outlives_its_producer_and_reports_progress_results_and_errors(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    # The producer sends 301 IDs and exits before any worker runs.
    sent = modelfleet(fleet_env, "enqueue", "0-149", "x", "150-299", "-b", "40", "--job-id")
    assert sent.returncode == 0, sent.stderr
    job_id = sent.stdout.strip()
    assert f"modelfleet: job {job_id}: 301 IDs in 8 tasks" in sent.stderr

    waiting = modelfleet(fleet_env, "job", job_id)
    assert waiting.returncode == 8  # still running
    assert "done 0, failed 0, pending 301 of 301 (0/8 tasks)" in waiting.stdout

    worker_factory()
    finished = modelfleet(fleet_env, "job", job_id, "--wait", "--timeout", "90")
    assert finished.returncode == 1, finished.stderr  # complete, one item failed
    assert "[" + "#" * 39 + "!] 100%" in finished.stdout  # a failure always shows
    assert "done 300, failed 1, pending 0 of 301 (8/8 tasks)" in finished.stdout

    results = modelfleet(fleet_env, "job", job_id, "--results")
    items = [json.loads(line) for line in results.stdout.splitlines()]
    assert [item["id"] for item in items] == [*range(150), "x", *range(150, 300)]
    assert results.returncode == 1

    errors = modelfleet(fleet_env, "job", job_id, "--errors")
    assert [json.loads(line)["id"] for line in errors.stdout.splitlines()] == ["x"]


def test_job_results_while_running_are_the_finished_items_in_input_order(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    worker_factory()
    sent = modelfleet(fleet_env, "enqueue", "0-99", "-b", "25", "--wait")
    assert sent.returncode == 0, sent.stderr
    job_id = sent.stderr.split("job ", 1)[1].split(":", 1)[0]
    settings = settings_for(fleet_env)
    backend = redis.Redis.from_url(settings.result_backend)
    tasks = [t.decode() for t in backend.lrange(job_keys(settings, job_id)[1], 0, -1)]
    # As if the second task were still running: its result is not there yet, and a worker
    # holds its message in kombu's unacked hash (without it, the task would be lost).
    backend.delete(f"celery-task-meta-{tasks[1]}")
    broker = redis.Redis.from_url(settings.broker_url)
    broker.hset("unacked", "held-tag", json.dumps({"headers": {"id": tasks[1]}}))

    partial = modelfleet(fleet_env, "job", job_id, "--results")
    ids = [json.loads(line)["id"] for line in partial.stdout.splitlines()]
    assert ids == [*range(25), *range(50, 100)]
    assert partial.returncode == 8
    assert "pending 25 of 100 (3/4 tasks)" in partial.stderr


def test_job_records_expire_with_the_results(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    env = {**fleet_env, "MODELFLEET_RESULT_EXPIRES": "600"}
    sent = modelfleet(env, "enqueue", "1", "2", "--job-id")
    job_id = sent.stdout.strip()
    settings = settings_for(env)
    backend = redis.Redis.from_url(settings.result_backend)
    ttls = [backend.ttl(key) for key in job_keys(settings, job_id)]
    assert all(0 < ttl <= 600 for ttl in ttls), ttls

    unknown = modelfleet(env, "job", "f" * 32)
    assert unknown.returncode == 7
    assert "expired with its results (MODELFLEET_RESULT_EXPIRES=600s)" in unknown.stderr
