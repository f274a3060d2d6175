"""A Node.js app enqueues IDs with celery-node and reads the results from the same Redis."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from producer.local.worker import LocalWorker
from tests.ecosystem.conftest import EXAMPLES

NODE_DIR = EXAMPLES / "node"


@pytest.fixture(scope="session")
def node_client() -> Path:
    """``examples/node`` with its locked dependencies installed (``npm ci``) where missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are not on PATH; install Node.js >= 18 to run the Node client")
    if not (NODE_DIR / "node_modules" / "celery-node").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return NODE_DIR / "client.js"


@pytest.mark.timeout(360)
def test_node_client_enqueues_ids_and_reads_results_in_order(
    node_client: Path, worker: LocalWorker, fleet_env: dict[str, str]
) -> None:
    ids = ["5", "1796", "nope", "0", "12"]
    done = subprocess.run(
        ["node", str(node_client), *ids],
        env={**fleet_env, "BATCH_SIZE": "2"},  # three tasks, so order across tasks is checked
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    items = [json.loads(line) for line in done.stdout.splitlines()]
    assert [item["id"] for item in items] == [5, 1796, "nope", 0, 12], done.stderr
    assert items[2]["error"]["type"] == "InvalidInput"
    assert all(0 <= items[i]["output"]["label"] <= 9 for i in (0, 1, 3, 4))
    assert done.returncode == 1  # one item failed
    assert done.stderr.count("task ") == 3
