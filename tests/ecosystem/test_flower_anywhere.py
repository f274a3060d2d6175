"""Flower after a plain install: its rules hold in any directory, and its Broker page works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from producer.local.embedded_redis import free_port
from tests.ecosystem.conftest import FlowerProcess, stop, wait_http
from tests.ecosystem.test_flower import http

#: A tasks.py of the user's own: `celery -A tasks` would import it instead of ours.
HOSTILE_TASKS = "raise SystemExit('the tasks.py in the current directory was imported')\n"

COMMANDS = {
    "modelfleet flower": [sys.executable, "-m", "producer", "flower"],
    "celery -A tasks flower": [sys.executable, "-m", "celery", "-A", "tasks", "flower"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_flower_without_credentials_beyond_loopback_exits_78_in_any_directory(
    command: str, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    if command == "modelfleet flower":
        (tmp_path / "tasks.py").write_text(HOSTILE_TASKS)
    done = subprocess.run(
        [*COMMANDS[command], "--address=0.0.0.0", f"--port={free_port()}"],
        env=fleet_env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert done.stderr.strip().splitlines() == [
        "modelfleet: Flower would listen on '0.0.0.0' without authentication; set "
        "MODELFLEET_FLOWER_USER and MODELFLEET_FLOWER_PASSWORD (or FLOWER_BASIC_AUTH), "
        "or listen on 127.0.0.1"
    ]


def test_modelfleet_flower_ignores_a_local_tasks_py_and_shows_queue_lengths(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "tasks.py").write_text(HOSTILE_TASKS)
    queue = fleet_env["MODELFLEET_QUEUE"]
    client = Celery(broker=fleet_env["CELERY_BROKER_URL"])
    for ids in ([0], [1, 2], [3]):  # no worker: they wait in the queue
        client.send_task("modelfleet.predict_batch", args=[ids], queue=queue)
    port, password = free_port(), "pw-" + os.urandom(4).hex()
    env = {**fleet_env, "MODELFLEET_FLOWER_USER": "op", "MODELFLEET_FLOWER_PASSWORD": password}
    log = tmp_path / "flower.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*COMMANDS["modelfleet flower"], f"--port={port}"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    flower = FlowerProcess(process, f"http://127.0.0.1:{port}", "op", password, log)
    try:
        wait_http(flower)
        assert http(flower, "GET", "/api/queues/length", auth=False)[0] == 401
        status, body = http(flower, "GET", "/api/queues/length")
        assert status == 200, body
        assert {"name": queue, "messages": 3} in body["active_queues"]
        status, page = http(flower, "GET", "/broker")
        assert status == 200 and queue in page, page
        assert "redis://" in page and "Transport://" not in page
    finally:
        stop(process)


def test_our_app_keeps_a_redis_url_and_the_hardened_transport() -> None:
    import tasks
    from worker_config.celery_ext.transport import Transport

    with tasks.app.connection() as connection:
        assert isinstance(connection.transport, Transport)
        assert connection.as_uri().startswith("redis://")
