"""Operators ask the workers what they serve, without waking a model."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from producer import FleetExecutor
from producer.local.worker import LocalWorker
from producer.worker_info import ask_workers
from worker_config.settings import Settings


def info_after(settings: Settings, hostname: str, done: int, timeout: float = 30) -> Any:
    """The worker's reply once it counts ``done`` tasks (the parent hears of a result last)."""
    deadline = time.monotonic() + timeout
    reply: Any = None
    while time.monotonic() < deadline:
        reply = ask_workers(settings, timeout=2, expected=1).get(hostname)
        if reply and reply["tasks_done"] == done:
            return reply
        time.sleep(0.2)
    raise AssertionError(f"last reply: {reply}")


def test_workers_report_model_version_load_time_children_and_tasks_done(
    worker: LocalWorker, fleet_settings: Settings, fleet_env: dict[str, str]
) -> None:
    with FleetExecutor(fleet_settings, batch_size=10) as executor:
        assert len(list(executor.map(range(30), timeout=60))) == 30  # three tasks

    reply = info_after(fleet_settings, worker.hostname, done=3)
    assert reply["concurrency"] == 2 and reply["children_alive"] == 2
    assert reply["tasks_active"] == 0
    assert len(reply["children"]) == 2
    for c in reply["children"]:
        assert c["alive"] and c["model"] == "digits" and c["version"]
        assert c["load_seconds"] >= 0 and c["loads"] == 1  # asking woke no model
    assert reply["models"] == [f"digits {reply['children'][0]['version']}"]

    status = subprocess.run(
        [sys.executable, "-m", "producer", "status"],
        env=fleet_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    assert "children alive 2/2; tasks done 3, running 0" in status.stdout

    celery_cli = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "inspect", "modelfleet_info", "--json"],
        env=fleet_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert '"children_alive": 2' in celery_cli.stdout, celery_cli.stderr
