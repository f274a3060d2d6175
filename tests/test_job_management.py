"""Jobs you can manage: list them, cancel one, find its purged tasks, retry what failed."""

from __future__ import annotations

import redis

from producer.local.worker import LocalWorker
from tests.conftest import run_cli, settings_for, wait_until


def _pause(fleet_env: dict[str, str], worker: LocalWorker, on: bool) -> None:
    """Stop (or restart) the worker taking tasks from the queue: sent tasks wait there."""
    from producer.connection import client_app

    settings = settings_for(fleet_env)
    app = client_app(settings)
    control = app.control.cancel_consumer if on else app.control.add_consumer
    control(settings.queue, destination=[worker.hostname], reply=True)
    app.close()


def _enqueue_job(fleet_env: dict[str, str]) -> str:
    sent = run_cli(fleet_env, "enqueue", "0-9", "--batch-size", "5", "--job-id")
    assert sent.returncode == 0, sent.stderr
    return sent.stdout.strip()


def test_jobs_lists_recent_jobs_and_cancel_revokes_what_has_not_started(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    _pause(fleet_env, worker, on=True)
    job_id = _enqueue_job(fleet_env)
    listed = run_cli(fleet_env, "jobs")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].startswith(job_id)
    assert "pending 10 of 10" in listed.stdout

    cancelled = run_cli(fleet_env, "job", job_id, "--cancel")
    assert cancelled.returncode == 0, cancelled.stderr
    assert "revoked 2 tasks" in cancelled.stderr
    _pause(fleet_env, worker, on=False)
    broker = redis.Redis.from_url(fleet_env["CELERY_BROKER_URL"])
    wait_until(lambda: broker.llen(fleet_env["MODELFLEET_QUEUE"]) == 0, 30, "the queue drained")
    wait_until(
        lambda: "(2/2 tasks)" in run_cli(fleet_env, "job", job_id).stdout, 30, "revoked tasks done"
    )
    shown = run_cli(fleet_env, "job", job_id)
    assert "done 0, failed 10" in shown.stdout and "(cancelled)" in shown.stdout, shown.stdout
    assert "(cancelled)" in run_cli(fleet_env, "jobs").stdout


def test_a_purged_job_says_lost_and_retry_failed_sends_a_linked_job(
    worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    _pause(fleet_env, worker, on=True)
    job_id = _enqueue_job(fleet_env)
    broker = redis.Redis.from_url(fleet_env["CELERY_BROKER_URL"])
    assert broker.delete(fleet_env["MODELFLEET_QUEUE"]) == 1  # `celery purge`, or a flushed Redis

    shown = run_cli(fleet_env, "job", job_id)
    assert shown.returncode == 1, shown.stderr
    assert "2 tasks (10 IDs)" in shown.stderr and "lost" in shown.stderr, shown.stderr

    retried = run_cli(fleet_env, "job", job_id, "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    new_id = retried.stdout.strip()
    assert new_id and new_id != job_id and f"retry of {job_id}" in retried.stderr
    _pause(fleet_env, worker, on=False)
    done = run_cli(fleet_env, "job", new_id, "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stderr
    assert f"retried as {new_id}" in run_cli(fleet_env, "job", job_id).stdout
    assert f"retry of {job_id}" in run_cli(fleet_env, "jobs").stdout
