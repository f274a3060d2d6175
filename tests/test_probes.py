"""`modelfleet probe ready|alive` against a real worker: files its signals write, no broker."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import WorkerFactory, run_cli, wait_until


def _probe(env: dict[str, str], what: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, "probe", what, *extra, timeout=30)


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
    wait_until(lambda: _probe(env, "alive").returncode == 0, 60, "alive")
    wait_until(lambda: "0 of 1 children" in _probe(env, "ready").stderr, 30, "loading")
    wait_until(lambda: _probe(env, "ready").returncode == 0, 60, "ready")

    # A replaced child makes the worker not ready until the new one has loaded the model.
    child = int((next((tmp_path / "state").glob("*/loaded-*"))).name.split("-")[1])
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: _probe(env, "ready").returncode == 1, 30, "unready after a child died")
    wait_until(lambda: _probe(env, "ready").returncode == 0, 60, "ready again")

    # A main process that stops heartbeating is not alive.
    worker.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: _probe(env, "alive", "--max-age", "3").returncode == 1, 30, "dead")
    finally:
        worker.process.send_signal(signal.SIGCONT)
    wait_until(lambda: _probe(env, "alive", "--max-age", "3").returncode == 0, 30, "alive again")

    assert worker.stop(timeout=30) == 0
    gone = _probe(env, "alive")
    assert gone.returncode == 1 and "no worker state" in gone.stderr
