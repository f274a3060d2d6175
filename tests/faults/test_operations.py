"""The operations surface: reloads that cannot hang, probes that cannot be fooled, and a state
directory nobody else can plant."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from celery import Celery

from producer.local.worker import start_worker
from tests.conftest import WorkerFactory, run_cli, wait_until
from worker_config.plugins.mapped import save_npy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_a_reload_from_a_fifo_or_a_hanging_load_fails_and_later_reloads_still_work(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    good = tmp_path / "weights.npy"
    save_npy(good, np.eye(64, 10, dtype=np.float32))
    env = {
        **fleet_env,
        "MODELFLEET_MODEL": "dense=tests.faults.hang_plugins:hanging_dense",
        "MODELFLEET_MODEL_PATH": str(good),
        "MODELFLEET_MODEL_LOAD_TIMEOUT": "15",
    }
    worker_factory(concurrency=1, env=env)
    fifo = tmp_path / "weights.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    refused = run_cli(env, "reload", "--model-path", str(fifo), "--timeout", "30", timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "not a regular file" in refused.stdout + refused.stderr
    assert time.monotonic() - started < 20
    hanging = tmp_path / "hang.npy"
    save_npy(hanging, np.eye(64, 10, dtype=np.float32))
    stuck = run_cli(env, "reload", "--model-path", str(hanging), "--timeout", "30", timeout=60)
    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    assert "MODELFLEET_MODEL_LOAD_TIMEOUT" in stuck.stdout + stuck.stderr
    again = run_cli(env, "reload", "--model-path", str(good), "--timeout", "30", timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr


def test_probe_alive_fails_for_a_dead_worker_whose_heartbeat_is_stamped_in_the_future(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, "MODELFLEET_STATE_DIR": str(tmp_path / "state")}
    worker = worker_factory(concurrency=1, env=env)
    assert run_cli(env, "probe", "alive").returncode == 0
    os.killpg(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    (state_file,) = (tmp_path / "state").glob("*/state.json")
    state = json.loads(state_file.read_text())
    state["heartbeat"] = time.time() + 3600
    state_file.write_text(json.dumps(state))
    probe = run_cli(env, "probe", "alive")
    assert probe.returncode == 1 and "in the future" in probe.stdout + probe.stderr


def test_probe_ready_fails_while_the_worker_does_not_consume_its_queue(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, "MODELFLEET_STATE_DIR": str(tmp_path / "state")}
    worker = worker_factory(concurrency=1, env=env)
    # The probe reads the parent's heartbeat file, written every few seconds: it may lag the
    # registry the factory waited on.
    wait_until(lambda: run_cli(env, "probe", "ready").returncode == 0, 15, "ready")
    app = Celery(broker=env["CELERY_BROKER_URL"], backend=env["CELERY_RESULT_BACKEND"])
    queue = env["MODELFLEET_QUEUE"]
    app.control.cancel_consumer(queue, destination=[worker.hostname], reply=True, timeout=10)
    wait_until(lambda: run_cli(env, "probe", "ready").returncode == 1, 15, "not ready")
    assert "not consuming" in run_cli(env, "probe", "ready").stderr
    assert run_cli(env, "probe", "alive").returncode == 0  # alive, just idle
    app.control.add_consumer(queue, destination=[worker.hostname], reply=True, timeout=10)
    wait_until(lambda: run_cli(env, "probe", "ready").returncode == 0, 15, "ready again")


@pytest.mark.parametrize("planted", ["symlink", "world-writable", "other-user"])
def test_a_worker_refuses_a_state_directory_another_user_could_have_planted(
    fleet_env: dict[str, str], tmp_path: Path, planted: str
) -> None:
    state_dir, elsewhere = tmp_path / "modelfleet", tmp_path / "attacker"
    elsewhere.mkdir(mode=0o700)
    if planted == "symlink":
        state_dir.symlink_to(elsewhere)
    else:
        state_dir.mkdir(mode=0o700)
        if planted == "world-writable":
            state_dir.chmod(0o777)
        elif os.geteuid() == 0:
            os.chown(state_dir, 65534, 65534)
        else:
            pytest.skip("needs root to make a directory owned by another user")
    env = {**fleet_env, "MODELFLEET_STATE_DIR": str(state_dir)}
    worker = start_worker(env, tmp_path / "worker.log", concurrency=1)
    try:
        status = worker.process.wait(timeout=60)
    finally:
        worker.stop()
    assert status != 0 and "unsafe MODELFLEET_STATE_DIR" in worker.log()
    assert not list(elsewhere.iterdir()), "the worker wrote into the planted directory"
    probe = run_cli(env, "probe", "alive")
    assert probe.returncode == 1 and "unsafe state directory" in probe.stdout + probe.stderr


def test_a_fresh_state_directory_is_private(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    state_dir = tmp_path / "fresh" / "modelfleet"
    worker_factory(concurrency=1, env={**fleet_env, "MODELFLEET_STATE_DIR": str(state_dir)})
    assert state_dir.stat().st_mode & 0o777 == 0o700
