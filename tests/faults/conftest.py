"""Fixtures and checks for the fault suite: real workers, real signals, every ID accounted for.

Set ``FAULT_REPORT=path`` to append one JSON line per fault (IDs sent, results, duplicates,
lost) for the closing note's table.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from producer import FleetExecutor, Job
from producer.local.worker import LocalWorker
from tests.faults import plugins
from worker_config import clients
from worker_config.contract import ResultItem
from worker_config.settings import Settings

#: Environment that makes workers use the misbehaving plug-ins.
FAULT_PLUGINS = {
    "MODELFLEET_MODEL": "fault=tests.faults.plugins:fault_model",
    "MODELFLEET_SOURCE": "tests.faults.plugins:FaultSource",
}


@dataclass
class Outcome:
    """What the producer saw for one fault."""

    fault: str
    sent: int
    results: int
    duplicates: int
    lost: int
    errors: dict[str, int]


def children_of(worker: LocalWorker) -> list[int]:
    """PIDs of the worker's pool children, from /proc."""
    pid = worker.process.pid
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def executions(settings: Settings, key: str | None = None) -> Counter[int]:
    """How many times a prediction finished (or, with ``starts_key``, started), per ID."""
    client = clients.backend(settings)
    raw: dict[bytes, bytes] = client.hgetall(key or plugins.executions_key(settings))  # type: ignore[assignment]
    return Counter({int(k): int(v) for k, v in raw.items()})


def wait_for_executions(settings: Settings, count: int, timeout: float = 60) -> None:
    """Block until at least ``count`` IDs have finished, so a fault lands mid-run."""
    deadline = time.monotonic() + timeout
    while sum(executions(settings).values()) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} IDs finished within {timeout}s")
        time.sleep(0.05)


def submit(settings: Settings, ids: list[int], batch_size: int) -> Job:
    return FleetExecutor(settings).submit_batches(ids, batch_size)


def account(fault: str, settings: Settings, ids: list[int], items: list[ResultItem]) -> Outcome:
    """Check every ID has exactly one result item, in order; count duplicate executions."""
    seen = Counter(item["id"] for item in items)
    assert [item["id"] for item in items] == ids, "results missing, repeated or out of order"
    runs = executions(settings)
    errors = Counter(item["error"]["type"] for item in items if "error" in item)
    outcome = Outcome(
        fault=fault,
        sent=len(ids),
        results=len(items),
        duplicates=sum(1 for i in ids if runs[i] > 1),
        lost=sum(1 for i in ids if seen[i] == 0),
        errors=dict(errors),
    )
    return report(outcome)


def report(outcome: Outcome) -> Outcome:
    """Print the outcome, and append it to ``FAULT_REPORT`` if set."""
    print(f"fault outcome: {json.dumps(asdict(outcome))}")
    path = os.environ.get("FAULT_REPORT")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(asdict(outcome)) + "\n")
    return outcome


def kill(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    os.kill(pid, sig)


@pytest.fixture
def fault_env(fleet_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The test's private queue and namespace, with the misbehaving plug-ins."""
    yield {**fleet_env, **FAULT_PLUGINS}
