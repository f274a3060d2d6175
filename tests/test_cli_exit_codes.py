"""Every command fails the same way: one ``modelfleet:`` line and the code of the README table."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.cli.exits import ExitCode
from producer.local.embedded_redis import RedisServer, free_port, start_redis
from producer.local.worker import LocalWorker
from tests.conftest import run_cli

#: Each command, with arguments that would work against a healthy fleet.
COMMANDS = {
    "enqueue": ["enqueue", "0-3", "--wait", "--timeout", "5"],
    "results": ["results", str(uuid.UUID(int=1))],
    "job": ["job", str(uuid.UUID(int=2))],
    "jobs": ["jobs"],
    "status": ["status", "--timeout", "1"],
    "reload": ["reload", "--timeout", "2"],
    "dead-letters": ["dead-letters"],
}


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis that wants a password."""
    server = start_redis(data_dir=tmp_path_factory.mktemp("locked-redis"))
    redis.Redis(port=server.port).config_set("requirepass", "right-password")
    yield server
    server.stop()


def one_line_failure(done: subprocess.CompletedProcess[str], code: int) -> None:
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("modelfleet:")]
    assert len(lines) == 1, done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unreachable_broker_exits_3_in_one_line(command: str, fleet_env: dict[str, str]) -> None:
    port = free_port()
    env = {
        **fleet_env,
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
        "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{port}/1",
    }
    one_line_failure(run_cli(env, *COMMANDS[command]), ExitCode.CONNECT)


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["broker", "backend"])
def test_a_wrong_password_exits_3_in_one_line(
    command: str, where: str, fleet_env: dict[str, str], locked_redis: RedisServer
) -> None:
    wrong = f"redis://:wrong-password@127.0.0.1:{locked_redis.port}"
    env = {**fleet_env}
    env["CELERY_BROKER_URL" if where == "broker" else "CELERY_RESULT_BACKEND"] = wrong + "/0"
    done = run_cli(env, *COMMANDS[command])
    one_line_failure(done, ExitCode.CONNECT)
    assert "wrong-password" not in done.stderr


def test_results_of_an_unknown_task_exit_7_and_of_a_waiting_one_8_or_4(
    fleet_env: dict[str, str],
) -> None:
    unknown = run_cli(fleet_env, "results", str(uuid.uuid4()))
    one_line_failure(unknown, ExitCode.UNKNOWN_JOB)
    assert "no task" in unknown.stderr and unknown.stdout == ""

    sent = run_cli(fleet_env, "enqueue", "0-3", "--batch-size", "4")  # no worker: it waits
    assert sent.returncode == 0, sent.stderr
    (task_id,) = sent.stdout.split()
    waiting = run_cli(fleet_env, "results", task_id)
    assert waiting.returncode == ExitCode.RUNNING, waiting.stderr
    assert waiting.stdout.strip() == f'{{"task_id": "{task_id}", "state": "PENDING"}}'
    timed_out = run_cli(fleet_env, "results", task_id, "--timeout", "1")
    one_line_failure(timed_out, ExitCode.TIMEOUT)
    assert timed_out.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["enqueue", "0-1796", "--wait"], ["enqueue", "0-1796", "--wait", "--batch-size", "1797"]],
    ids=["enqueue-wait", "one-batch"],
)
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(
    command: list[str], worker: LocalWorker, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    shell = f"{sys.executable} -m producer {' '.join(command)} | head -1"
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell],
        env=fleet_env, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    assert done.returncode == ExitCode.BROKEN_PIPE, done.stderr
    assert done.stdout.count("\n") == 1
    assert "Broken pipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr
