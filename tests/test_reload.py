"""Model versions and rolling reload, against real workers: no task lost, every result tagged."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from celery import Celery

from producer.executor import FleetExecutor
from producer.status import child_loads
from tests.conftest import WorkerFactory, run_cli
from worker_config.plugins.mapped import array_version, load_npy, save_npy
from worker_config.settings import Settings

#: Inputs of the dense test model: 4 numbers each.
ROWS, COLS = 4, 8


def weights(label: int) -> np.ndarray[Any, Any]:
    """Weights under which every positive input gets ``label``: each version answers its own."""
    w = np.zeros((ROWS, COLS), dtype=np.float32)
    w[:, label] = float(label)
    return w


def dense_env(fleet_env: dict[str, str], path: Path) -> dict[str, str]:
    return {
        **fleet_env,
        "MODELFLEET_MODEL": "dense=tests.reload_plugins:traced_dense",
        "MODELFLEET_SOURCE": "redis",
        "MODELFLEET_MODEL_PATH": str(path),
        "MODELFLEET_MICROBATCH_MAX": "1",
    }


def store_inputs(settings: Settings, ids: range) -> None:
    client = redis.Redis.from_url(settings.input_url)
    client.mset({f"{settings.input_prefix}{i}": json.dumps([1.0] * ROWS) for i in ids})
    client.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_reload_mid_run_loses_nothing_and_tags_each_result_with_its_version(
    worker_factory: WorkerFactory,
    fleet_env: dict[str, str],
    fleet_settings: Settings,
    tmp_path: Path,
) -> None:
    path = tmp_path / "weights.npy"
    save_npy(path, weights(1))
    v1 = array_version(load_npy(path))
    env = dense_env(fleet_env, path)
    settings = fleet_settings.model_copy(update={"source": "redis"})
    ids = range(600)
    store_inputs(settings, ids)
    worker = worker_factory(concurrency=2, env=env)

    with FleetExecutor(settings, batch_size=1) as ex:
        job = ex.submit_batches(ids)  # 600 tasks of one ID each
        done_before = _wait_for_results(fleet_settings, worker.hostname, minimum=2)
        # A new version written in place (atomically, under the lock), then the CLI's reload.
        save_npy(path, weights(2))
        v2 = array_version(load_npy(path))
        reloaded = run_cli(env, "reload", "--timeout", "120", timeout=120)
        items = list(job.results(timeout=180))

    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    assert reloaded.stdout.count(f"serving dense {v2}") == 2, reloaded.stdout
    assert [item["id"] for item in items] == list(ids)
    assert all("output" in item for item in items), [i for i in items if "output" not in i][:3]
    label_of = {v1: 1, v2: 2}
    per_child: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for item in items:
        version = item["model"]["version"]
        assert item["model"]["name"] == "dense"
        assert item["output"]["label"] == label_of[version]  # the tag names the real producer
        per_child[item["output"]["pid"]].append((item["output"]["at"], version))
    versions = {version for tagged in per_child.values() for _, version in tagged}
    assert versions == {v1, v2}, "the reload did not happen mid-run"
    for pid, tagged in per_child.items():
        sequence = [version for _, version in sorted(tagged)]
        switch = sequence.index(v2) if v2 in sequence else len(sequence)
        assert set(sequence[switch:]) <= {v2}, f"child {pid} went back to the old version"
    print(
        f"\nreload: {len(items)} items, {done_before} done before the reload; per child "
        + ", ".join(
            f"{pid}: {sum(v == v1 for _, v in t)} on v1 then {sum(v == v2 for _, v in t)} on v2"
            for pid, t in sorted(per_child.items())
        )
    )
    children = child_loads(fleet_settings, worker.hostname)
    assert {c.version for c in children.values()} == {v2}
    assert all(c.generation == 1 and c.reload_error is None for c in children.values())


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_version_that_fails_to_load_leaves_the_old_one_serving_and_is_reported(
    worker_factory: WorkerFactory,
    fleet_env: dict[str, str],
    fleet_settings: Settings,
    tmp_path: Path,
) -> None:
    path = tmp_path / "weights.npy"
    save_npy(path, weights(1))
    v1 = array_version(load_npy(path))
    broken = tmp_path / "broken.npy"
    broken.write_bytes(b"not an array")
    env = dense_env(fleet_env, path)
    settings = fleet_settings.model_copy(update={"source": "redis"})
    store_inputs(settings, range(20))
    worker = worker_factory(concurrency=2, env=env)

    reloaded = run_cli(env, "reload", "--model-path", str(broken), "--timeout", "60", timeout=120)

    assert reloaded.returncode == 1, reloaded.stdout + reloaded.stderr
    assert "FAILED, still serving dense" in reloaded.stdout
    assert "cannot load" in reloaded.stdout and str(broken) in reloaded.stdout
    with FleetExecutor(settings) as ex:
        items = list(ex.map(range(20), timeout=60))
    assert all(item["model"]["version"] == v1 for item in items)
    assert worker.process.poll() is None
    status = run_cli(env, "status", timeout=120)
    assert "FAILED, old version serving" in status.stdout, status.stdout
    assert "reload generation 1 failed, still serving the old version" in worker.log()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_pool_restart_as_flower_sends_it_reloads_a_new_file_in_place(
    worker_factory: WorkerFactory,
    fleet_env: dict[str, str],
    fleet_settings: Settings,
    tmp_path: Path,
) -> None:
    path = tmp_path / "weights.npy"
    save_npy(path, weights(1))
    worker = worker_factory(concurrency=2, env=dense_env(fleet_env, path))
    save_npy(path, weights(3))
    v3 = array_version(load_npy(path))

    app = Celery(broker=fleet_settings.broker_url)
    # What Flower's POST /api/worker/pool/restart/<worker> sends.
    replies = app.control.broadcast(
        "pool_restart",
        arguments={"reload": False},
        destination=[worker.hostname],
        reply=True,
        timeout=5,
    )
    app.close()
    assert replies and "ok" in replies[0][worker.hostname]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = child_loads(fleet_settings, worker.hostname)
        if {c.version for c in children.values()} == {v3}:
            break
        time.sleep(0.2)
    assert {c.version for c in child_loads(fleet_settings, worker.hostname).values()} == {v3}


def _wait_for_results(settings: Settings, hostname: str, minimum: int) -> int:
    """Wait until the fleet has answered at least ``minimum`` tasks; return how many."""
    app = Celery(broker=settings.broker_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            stats = app.control.inspect(destination=[hostname], timeout=1).stats() or {}
            total = sum(stats.get(hostname, {}).get("total", {}).values())
            if total >= minimum:
                return int(total)
            time.sleep(0.1)
    finally:
        app.close()
    raise AssertionError("the fleet answered nothing")
