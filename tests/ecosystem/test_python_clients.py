"""Apps with only celery installed enqueue IDs by task name and read results."""

from __future__ import annotations

import json
import subprocess

import pytest

from producer.local.worker import LocalWorker
from tests.conftest import WorkerFactory
from tests.ecosystem.conftest import EXAMPLES, run_foreign


def test_the_foreign_python_cannot_import_modelfleet(
    foreign_python: str, fleet_env: dict[str, str]
) -> None:
    probe = (
        "import importlib.util as u; print([bool(u.find_spec(m)) for m in "
        + repr(["celery", "redis", "tasks", "worker_config", "producer"])
        + "])"
    )
    out = subprocess.run(
        [foreign_python, "-I", "-c", probe],
        check=False,
        env=fleet_env,
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert out.stdout.strip() == "[True, True, False, False, False]", out.stderr


def test_python_client_with_only_celery_gets_ordered_results(
    foreign_python: str, worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    done = run_foreign(
        foreign_python, EXAMPLES / "python_client.py", ["17", "3", "x", "1796"], fleet_env
    )
    assert done.returncode == 1, done.stderr  # "x" is an error item, so exit 1
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == [17, 3, "x", 1796]
    assert [("output" in item) for item in items] == [True, True, False, True]
    assert items[2]["error"]["type"] == "InvalidInput"
    assert all(0 <= item["output"]["label"] <= 9 for i, item in enumerate(items) if i != 2)


@pytest.mark.slow
def test_redis_source_client_stores_inputs_and_gets_their_predictions(
    foreign_python: str, worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    worker_factory(env={"MODELFLEET_SOURCE": "redis"})
    rows = {f"scan-{i}": (digits.data[i].tolist(), int(digits.target[i])) for i in (0, 5, 42)}
    stdin = "".join(json.dumps({"id": k, "input": row}) + "\n" for k, (row, _) in rows.items())
    done = run_foreign(
        foreign_python, EXAMPLES / "redis_source_client.py", ["never-stored"], fleet_env, stdin
    )
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == [*rows, "never-stored"], done.stderr
    assert [item["output"]["label"] for item in items[:3]] == [t for _, t in rows.values()]
    assert items[3]["error"]["type"] == "UnknownInput"
    assert done.returncode == 1
