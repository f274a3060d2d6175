"""Fixtures for the clients other apps use: a Python that cannot import modelfleet, Flower."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import sysconfig
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from producer.local.embedded_redis import free_port

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="session")
def foreign_python(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Python with celery[redis] but none of modelfleet's packages, as another app has.

    A venv without pip whose only extra path is our venv's site-packages, added by a plain
    ``.pth`` line: the ``.pth`` files in that directory (our editable install) are not read.
    Run it with ``-I`` so neither PYTHONPATH nor the working directory lets the repo in.
    """
    root = tmp_path_factory.mktemp("foreign-venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "host-libraries.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return str(python)


def run_foreign(
    python: str, script: Path, args: list[str], env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run an example in the foreign Python, from a directory that holds none of our code."""
    return subprocess.run(
        [python, "-I", str(script), *args],
        check=False,
        input=stdin,
        env=env,
        cwd=script.parent if script.parent != REPO else "/",
        capture_output=True,
        text=True,
        timeout=90,
    )


@dataclass
class FlowerProcess:
    process: subprocess.Popen[bytes]
    url: str
    user: str
    password: str
    log_path: Path

    @property
    def auth_header(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_flower(
    env: dict[str, str], log_path: Path, extra_env: dict[str, str] | None = None
) -> FlowerProcess:
    """``celery -A tasks flower`` from the repo root, as an operator starts it."""
    port = free_port()
    user, password = "operator", "s3cret-" + os.urandom(4).hex()
    full_env = {
        **env,
        "MODELFLEET_FLOWER_USER": user,
        "MODELFLEET_FLOWER_PASSWORD": password,
        **(extra_env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", "flower", f"--port={port}"],
            env=full_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return FlowerProcess(process, f"http://127.0.0.1:{port}", user, password, log_path)


def wait_http(flower: FlowerProcess, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if flower.process.poll() is not None:
            raise AssertionError(f"flower exited {flower.process.returncode}:\n{flower.log()}")
        try:
            with urllib.request.urlopen(flower.url + "/healthcheck", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"flower did not answer in {timeout}s:\n{flower.log()}")


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.fixture
def flower(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[FlowerProcess]:
    """A Flower with basic auth on, for this test's queue and Redis."""
    process = start_flower(fleet_env, tmp_path / "flower.log")
    try:
        wait_http(process)
        yield process
    finally:
        stop(process.process)


@pytest.fixture
def input_store(fleet_env: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(fleet_env["CELERY_BROKER_URL"])
    yield client
    client.close()
