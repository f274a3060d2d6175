"""`modelfleet probe ready|alive` against a real worker: files its signals write, no broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import WorkerFactory


def _probe(env: dict[str, str], what: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer", "probe", what, *extra],
        check=False, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout}s")
        time.sleep(0.2)


@pytest.mark.slow
def test_probes_follow_model_loading_heartbeat_and_shutdown(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **fleet_env,
        "MODELFLEET_STATE_DIR": str(tmp_path / "state"),
        "MODELFLEET_MODEL": "tests.plugins:slow_model",
        "TEST_SLOW_LOAD_SECONDS": "5",
    }
    nothing = _probe(env, "alive")
    assert nothing.returncode == 1 and "no worker state" in nothing.stderr

    worker = worker_factory(concurrency=1, wait=False, env=env)
    # Alive while the child is still loading its model, but not ready.
    _until(lambda: _probe(env, "alive").returncode == 0, 60, "alive")
    _until(lambda: "0 of 1 children" in _probe(env, "ready").stderr, 30, "loading")
    _until(lambda: _probe(env, "ready").returncode == 0, 60, "ready")

    # A replaced child makes the worker not ready until the new one has loaded the model.
    child = int((next((tmp_path / "state").glob("*/loaded-*"))).name.split("-")[1])
    os.kill(child, signal.SIGKILL)
    _until(lambda: _probe(env, "ready").returncode == 1, 30, "unready after a child died")
    _until(lambda: _probe(env, "ready").returncode == 0, 60, "ready again")

    # A main process that stops heartbeating is not alive.
    worker.process.send_signal(signal.SIGSTOP)
    try:
        _until(lambda: _probe(env, "alive", "--max-age", "3").returncode == 1, 30, "dead")
    finally:
        worker.process.send_signal(signal.SIGCONT)
    _until(lambda: _probe(env, "alive", "--max-age", "3").returncode == 0, 30, "alive again")

    assert worker.stop(timeout=30) == 0
    gone = _probe(env, "alive")
    assert gone.returncode == 1 and "no worker state" in gone.stderr
