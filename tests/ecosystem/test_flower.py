"""Flower with basic auth: other apps enqueue over its REST API; operators see tasks and workers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from producer.local.worker import LocalWorker
from tests.ecosystem.conftest import REPO, FlowerProcess


def http(
    flower: FlowerProcess,
    method: str,
    path: str,
    body: object = None,
    auth: bool = True,
) -> tuple[int, Any]:
    """One request; returns the status and the decoded JSON (or text) body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **(flower.auth_header if auth else {})}
    request = urllib.request.Request(flower.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status = response.read().decode(), response.status
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    try:
        return status, json.loads(raw)
    except json.JSONDecodeError:
        return status, raw


def poll(fetch: Any, timeout: float = 60) -> Any:
    """Call ``fetch`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"nothing after {timeout}s")


def test_flower_rest_api_enqueues_and_returns_results_only_with_credentials(
    worker: LocalWorker, flower: FlowerProcess
) -> None:
    path = "/api/task/async-apply/modelfleet.predict_batch"
    assert http(flower, "POST", path, {"args": [[1, 2]]}, auth=False)[0] == 401
    assert http(flower, "GET", "/api/workers", auth=False)[0] == 401
    assert http(flower, "GET", "/", auth=False)[0] == 401

    status, sent = http(flower, "POST", path, {"args": [[42, "bad", 7]]})
    assert status == 200, sent
    task_id = sent["task-id"]

    def finished() -> Any:
        code, body = http(flower, "GET", f"/api/task/result/{task_id}")
        assert code == 200, body
        return body if body["state"] == "SUCCESS" else None

    result = poll(finished)["result"]
    assert [item["id"] for item in result] == [42, "bad", 7]
    assert "output" in result[0] and result[1]["error"]["type"] == "InvalidInput"

    # What an operator sees: the task by name with its IDs and result, the worker's pool.
    def seen() -> Any:
        code, tasks = http(flower, "GET", "/api/tasks?limit=50")
        task = tasks.get(task_id) if code == 200 else None
        return task if task and task.get("state") == "SUCCESS" else None

    task = poll(seen)
    assert task["name"] == "modelfleet.predict_batch"
    assert "42" in task["args"] and "'bad'" in task["args"]
    assert "'label'" in task["result"]
    assert task["worker"] == worker.hostname

    code, workers = http(flower, "GET", "/api/workers?refresh=1")
    assert code == 200
    assert workers[worker.hostname]["stats"]["pool"]["max-concurrency"] == 2


def test_flower_refuses_to_listen_beyond_loopback_without_credentials(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in fleet_env.items() if not k.startswith("FLOWER_")}
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "flower", "--address=0.0.0.0", "--port=0"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78
    assert "without authentication; set MODELFLEET_FLOWER_USER" in done.stderr


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1"])
def test_loopback_addresses_are_recognised(address: str) -> None:
    from worker_config.flower import is_loopback

    assert is_loopback(address)
    assert not is_loopback("") and not is_loopback("0.0.0.0")
