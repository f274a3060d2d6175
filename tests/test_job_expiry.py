"""A producer that waits longer than its results live, or longer than it wanted to, is told so."""

from __future__ import annotations

import time

import pytest
import redis

from producer import FleetExecutor, JobExpired, JobTimeout
from producer.jobs import job_keys
from worker_config.settings import Settings


def test_waiting_past_the_timeout_names_the_unfinished_ids_and_how_to_fetch_them(
    fleet_settings: Settings,
) -> None:
    with FleetExecutor(fleet_settings, batch_size=5) as executor:  # no worker: nothing finishes
        job = executor.submit_batches(range(12))
        with pytest.raises(JobTimeout) as raised:
            list(job.results(timeout=0.5))
    message = str(raised.value)
    assert "12 of 12 IDs unfinished (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...)" in message
    assert f"modelfleet job {job.id} --results" in message


def test_a_job_whose_results_expired_fails_fast_instead_of_waiting_forever(
    fleet_settings: Settings,
) -> None:
    with FleetExecutor(fleet_settings, batch_size=4) as executor:
        job = executor.submit_batches(range(8))
        client = redis.Redis.from_url(fleet_settings.result_backend)
        client.delete(*job_keys(fleet_settings, job.id))  # what Redis does when they expire
        client.close()
        started = time.monotonic()
        with pytest.raises(JobExpired, match=f"job {job.id} expired before 8 of its 8 IDs"):
            list(job.results(timeout=60))
    assert time.monotonic() - started < 30
