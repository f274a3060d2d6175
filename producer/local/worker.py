"""Run a ``celery -A tasks worker`` on this machine as a child process, for the demo and tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from producer.status import child_loads
from worker_config import clients
from worker_config.errors import ModelfleetError
from worker_config.settings import Settings


@dataclass
class LocalWorker:
    """A worker process we started, its node name, and its log file."""

    process: subprocess.Popen[bytes]
    hostname: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, settings: Settings, children: int, timeout: float = 120.0) -> None:
        """Block until ``children`` children have loaded the model and the worker consumes.

        Raises if the worker died or the timeout passed.
        """
        client = clients.backend(settings)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelfleetError(
                    f"worker exited with status {self.process.returncode}:\n" + self.log()[-3000:]
                )
            loaded = len(child_loads(settings, self.hostname, client))
            if loaded >= children and f"{self.hostname} ready." in self.log():
                return
            time.sleep(0.1)
        raise ModelfleetError(f"worker not ready after {timeout}s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> int:
        """Warm shutdown (SIGTERM), then SIGKILL of the whole process group if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_worker(
    env: dict[str, str],
    log_path: Path,
    *,
    concurrency: int | None = None,
    name: str | None = None,
    loglevel: str = "INFO",
    extra_args: list[str] | None = None,
    prefix: list[str] | None = None,
) -> LocalWorker:
    """Start ``python -m celery -A tasks worker`` in its own process group.

    ``prefix`` wraps the command, e.g. ``["taskset", "-c", "0"]`` to pin it to one core.
    """
    hostname = f"{name or 'modelfleet-' + uuid.uuid4().hex[:8]}@{os.uname().nodename}"
    command = [
        *(prefix or []),
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tasks",
        "worker",
        f"--loglevel={loglevel}",
        f"--hostname={hostname}",
        *(extra_args or []),
    ]
    if concurrency:
        command.append(f"--concurrency={concurrency}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    return LocalWorker(process, hostname, log_path)
