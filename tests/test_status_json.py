"""`modelfleet status --json` for scripts, and `--watch` that shows it again and again."""

from __future__ import annotations

import json
import subprocess
import sys

from producer.local.worker import LocalWorker
from tests.conftest import run_cli


def test_status_json_and_watch(worker: LocalWorker, fleet_env: dict[str, str]) -> None:
    shown = run_cli(fleet_env, "status", "--json", "--timeout", "2")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert [w["hostname"] for w in body["workers"]] == [worker.hostname]
    assert body["workers"][0]["concurrency"] == 2
    assert {c["model"] for c in body["workers"][0]["children"]} == {"digits"}
    assert body["queue"] == fleet_env["MODELFLEET_QUEUE"] and "warnings" in body

    command = [sys.executable, "-m", "producer", "status", "--json", "--watch", "0.5"]
    with subprocess.Popen(
        command, env=fleet_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as watching:
        try:
            assert watching.stdout is not None
            first, second = watching.stdout.readline(), watching.stdout.readline()
            assert json.loads(first)["workers"] and json.loads(second)["workers"]
        finally:
            watching.terminate()
