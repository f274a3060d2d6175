"""``modelfleet status`` on Sentinel shows the master, replicas and sentinels, and warns."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.faults.sentinel_group import MASTER_NAME, SentinelGroup, start_group

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    started = start_group(tmp_path / "sentinel")
    yield started
    started.stop()


def test_status_shows_the_sentinel_view_and_warns_when_sentinels_or_replicas_are_few(
    group: SentinelGroup, fleet_env: dict[str, str]
) -> None:
    env = {
        **fleet_env,
        "CELERY_BROKER_URL": group.url(0),
        "CELERY_RESULT_BACKEND": group.url(1),
        "MODELFLEET_SENTINEL_MASTER": MASTER_NAME,
    }
    shown = run_cli(env, "status")
    assert shown.returncode == 0, shown.stderr
    assert "sentinel (broker and result backend):" in shown.stdout
    assert f"master '{MASTER_NAME}': 127.0.0.1:{group.master.port}" in shown.stdout
    assert f"replicas: 127.0.0.1:{group.replicas[0].port} ok" in shown.stdout
    assert "sentinels: 3 of 3 reachable" in shown.stdout
    assert "only 1 replica(s)" in shown.stderr  # one replica: no spare after a failover
    assert "sentinels answer" not in shown.stderr

    for process in group.sentinels[1:]:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    shown = run_cli(env, "status")
    assert "sentinels: 1 of 3 reachable" in shown.stdout, shown.stdout
    assert "only 1 of 3 sentinels answer" in shown.stderr
