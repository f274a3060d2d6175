"""How a worker sets itself up: core count, BLAS threads, training the model once per machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from producer import FleetExecutor
from producer.status import child_loads, fleet_status
from tests.conftest import WorkerFactory
from worker_config.settings import Settings


def test_usable_cores_follow_the_cpu_affinity() -> None:
    code = (
        "import os; os.sched_setaffinity(0, {0}); "
        "from worker_config.cores import usable_cores; print(usable_cores())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.strip() == "1"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to tell 1 from all")
def test_a_worker_pinned_to_one_core_starts_one_child(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    worker = worker_factory(concurrency=0, prefix=["taskset", "-c", "0"])
    fleet = fleet_status(fleet_settings, timeout=5)
    (status,) = [w for w in fleet.workers if w.hostname == worker.hostname]
    assert status.concurrency == 1
    assert len(child_loads(fleet_settings, worker.hostname)) == 1


def test_each_child_runs_one_blas_thread(
    worker_factory: WorkerFactory, fleet_settings: Settings
) -> None:
    worker_factory(env={"MODELFLEET_MODEL": "tests.plugins:thread_reporting_model"})
    with FleetExecutor(fleet_settings, batch_size=5) as executor:
        items = list(executor.map(range(40), timeout=60))
    assert {item["output"]["blas_threads"] for item in items} == {1}


def test_children_of_a_new_machine_train_the_model_once_and_share_the_file(
    worker_factory: WorkerFactory, tmp_path: Path
) -> None:
    cache = tmp_path / "fresh-cache"
    worker = worker_factory(concurrency=2, env={"MODELFLEET_CACHE_DIR": str(cache)})
    assert worker.log().count("training the digits model") == 1
    assert [p.suffix for p in cache.iterdir() if p.suffix != ".lock"] == [".joblib"]
