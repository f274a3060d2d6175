"""Starting a worker the way a new user does: `modelfleet worker` whatever the cwd holds, and
invalid settings that end the worker in one line with EX_CONFIG (78) instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer import FleetExecutor
from producer.local.worker import LocalWorker
from tests.conftest import REPO, settings_for

HOSTILE_TASKS = "import sys\nprint('HOSTILE tasks.py ran')\nsys.exit(13)\n"


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        ("celery worker", "MODELFLEET_CONCURRENCY", "abc"),
        ("celery worker", "MODELFLEET_MAX_BATCH", "-1"),
        ("celery worker", "MODELFLEET_MMAP_WEIGHTS", "maybe"),
        ("celery worker", "CELERY_BROKER_URL", "amqp://guest@localhost//"),
        ("modelfleet worker", "MODELFLEET_VISIBILITY_TIMEOUT", "0"),
        ("modelfleet worker", "MODELFLEET_CONCURRENCY", "abc"),
        ("celery flower", "MODELFLEET_LOG_FORMAT", "xml"),
    ],
)
def test_an_invalid_setting_exits_78_with_one_line_naming_it(
    fleet_env: dict[str, str], tmp_path: Path, command: str, variable: str, value: str
) -> None:
    argv = {
        "celery worker": [sys.executable, "-m", "celery", "-A", "tasks", "worker"],
        "modelfleet worker": [sys.executable, "-m", "producer", "worker"],
        "celery flower": [sys.executable, "-m", "celery", "-A", "tasks", "flower"],
    }[command]
    done = subprocess.run(
        [*argv, "--loglevel=INFO"],
        env={**fleet_env, variable: value}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = (done.stdout + done.stderr).strip()
    assert done.returncode == os.EX_CONFIG, output
    assert output.count("\n") == 0, output
    assert output.startswith("modelfleet: invalid settings: ") and variable in output


def test_modelfleet_worker_serves_our_tasks_from_a_directory_with_a_hostile_tasks_py(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "tasks.py").write_text(HOSTILE_TASKS)
    log = tmp_path / "worker.log"
    hostname = f"cwd-{os.getpid()}@{os.uname().nodename}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "producer", "worker", "-c", "1", "-n", hostname, "-l", "INFO"],
            env=fleet_env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = LocalWorker(process, hostname, log)
    try:
        settings = settings_for(fleet_env)
        worker.wait_ready(settings, 1, timeout=90)
        with FleetExecutor(settings, batch_size=3) as executor:
            items = list(executor.map([0, 1, 2, 3], timeout=60))
        assert [item["id"] for item in items] == [0, 1, 2, 3]
        assert all("output" in item for item in items)
        assert "HOSTILE" not in worker.log()
    finally:
        assert worker.stop(timeout=20) == 0, worker.log()[-2000:]


def test_celery_a_tasks_from_the_hostile_directory_is_what_modelfleet_worker_avoids(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    """Proves the test above can fail: plain `celery -A tasks` imports the cwd's tasks.py."""
    (tmp_path / "tasks.py").write_text(HOSTILE_TASKS)
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "report"],
        env={**fleet_env, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "HOSTILE tasks.py ran" in done.stdout
