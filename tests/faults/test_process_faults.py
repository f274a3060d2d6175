"""Workers killed, stopped and restarted mid-run: every ID gets exactly one result."""

from __future__ import annotations

import signal
import time

import pytest

from producer.status import child_loads
from tests.conftest import WorkerFactory, settings_for
from tests.faults.conftest import (
    account,
    children_of,
    executions,
    kill,
    submit,
    wait_for_executions,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

IDS = list(range(600))


def test_sigkilled_child_mid_task_is_replaced_and_its_task_redelivered(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_SLEEP_PER_ITEM": "0.005"}
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    job = submit(settings, IDS, batch_size=10)
    wait_for_executions(settings, 100)
    victim = children_of(worker)[0]
    kill(victim)

    items = list(job.results(timeout=120))
    outcome = account("SIGKILL one pool child", settings, IDS, items)
    assert outcome.lost == 0 and not outcome.errors
    assert executions(settings).keys() == set(IDS)
    # The job can finish on the surviving child before the replacement has loaded its model.
    deadline = time.monotonic() + 60
    while len(loads := child_loads(settings, worker.hostname)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert victim in loads and len(loads) == 3  # two children and the replacement
    assert {c.loads for c in loads.values()} == {1}
    assert "WorkerLostError" in worker.log() or "exited with" in worker.log()


def test_warm_shutdown_mid_run_then_a_new_worker_loses_nothing(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_SLEEP_PER_ITEM": "0.005"}
    settings = settings_for(env)
    first = worker_factory(concurrency=2, env=env)
    job = submit(settings, IDS, batch_size=10)
    wait_for_executions(settings, 100)
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=60) == 0
    finished_before = sum(executions(settings).values())
    assert finished_before < len(IDS), "the fault landed after the run; slow the model down"

    worker_factory(concurrency=2, env=env)
    items = list(job.results(timeout=120))
    outcome = account("SIGTERM (warm shutdown), new worker", settings, IDS, items)
    assert outcome.lost == 0 and not outcome.errors
    assert outcome.duplicates == 0  # running tasks finished, waiting ones went back unrun


def test_sigkilled_worker_tasks_come_back_after_the_visibility_timeout(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    env = {**fault_env, "TEST_SLEEP_PER_ITEM": "0.005", "MODELFLEET_VISIBILITY_TIMEOUT": "4"}
    settings = settings_for(env)
    first = worker_factory(concurrency=2, env=env)
    job = submit(settings, IDS, batch_size=10)
    wait_for_executions(settings, 100)
    import os

    os.killpg(first.process.pid, signal.SIGKILL)  # main process and children at once
    first.process.wait(timeout=10)
    killed_at = time.monotonic()
    finished_before = sum(executions(settings).values())

    worker_factory(concurrency=2, env=env)
    items = list(job.results(timeout=120))
    outcome = account("SIGKILL whole worker, new worker", settings, IDS, items)
    assert outcome.lost == 0 and not outcome.errors
    assert finished_before < len(IDS)
    assert time.monotonic() - killed_at >= 4  # the held tasks waited out their lease


def test_followers_of_a_sigkilled_child_come_back_at_once_not_after_the_visibility_timeout(
    worker_factory: WorkerFactory, fault_env: dict[str, str]
) -> None:
    from producer import FleetExecutor
    from tests.faults import plugins

    # 5 minutes of visibility timeout: a follower left to it would miss the 60 s below.
    env = {**fault_env, "TEST_SLEEP_PER_ITEM": "0.03", "MODELFLEET_VISIBILITY_TIMEOUT": "300"}
    settings = settings_for(env)
    ids = list(range(300))
    worker = worker_factory(concurrency=1, env=env)
    with FleetExecutor(settings) as executor:
        job = executor.submit_each(ids)
        # A micro-batch has started: its child holds dozens of followers it has not answered.
        deadline = time.monotonic() + 60
        while len(executions(settings, plugins.starts_key(settings))) < 20:
            assert time.monotonic() < deadline, "no micro-batch started"
            time.sleep(0.02)
        kill(children_of(worker)[0])
        started = time.monotonic()
        items = list(job.results(timeout=60))
    outcome = account("SIGKILL a child mid micro-batch", settings, ids, items)
    assert outcome.lost == 0 and not outcome.errors
    assert time.monotonic() - started < 60
    assert "micro-batched task(s) taken by pool child(ren)" in worker.log()
