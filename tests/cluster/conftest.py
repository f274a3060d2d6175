"""A small cluster per test module: a Redis host and a producer host on a private network,
plus worker hosts that each test starts and that are stopped after it."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from producer.local.embedded_redis import redis_server_binary
from tests.cluster import deployfiles
from tests.cluster.deployfiles import REPO
from tests.cluster.netns import Host, Network, can_make_namespaces

PYTHON = str(REPO / ".venv" / "bin" / "python")
MODELFLEET = str(REPO / ".venv" / "bin" / "modelfleet")
#: The test model: digits at a fixed wall time per item, so one host is told from two on a busy
#: 2-core machine (the real model's figures are in the closing note, not asserted).
PACED = "paced=tests.plugins:paced_model"


@dataclass
class Cluster:
    network: Network
    redis: Host
    producer: Host
    tmp: Path
    compose_env: dict[str, str]

    def env(self, **extra: str) -> dict[str, str]:
        """What a worker or producer host gets: the compose file's worker environment."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
        worker = deployfiles.load_compose(self.compose_env)["services"]["worker"]
        return {
            **base,
            **{k: str(v) for k, v in worker["environment"].items()},
            "MODELFLEET_CACHE_DIR": str(self.tmp / "model-cache"),
            "PYTHONPATH": str(REPO),
            **extra,
        }


@dataclass
class Fleet:
    """The worker hosts of one test, and its own queue on the shared Redis."""

    cluster: Cluster
    queue: str = field(default_factory=lambda: f"cluster-{uuid.uuid4().hex[:6]}")
    workers: list[Host] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return self.cluster.env(
            MODELFLEET_QUEUE=self.queue,
            MODELFLEET_KEY_PREFIX=f"{self.queue}:",
            MODELFLEET_MODEL=PACED,
            MODELFLEET_CONCURRENCY="1",
            # Redelivery of a lost host's task after 5 s instead of an hour.
            MODELFLEET_VISIBILITY_TIMEOUT="5",
            TEST_ITEM_SECONDS="0.05",
            **extra,
        )

    def start_worker(self, name: str, how: str, cpu: int) -> Host:
        """A worker host started with the compose file's command or the systemd unit's line."""
        host = self.cluster.network.add_host(name)
        env = self.env(MODELFLEET_STATE_DIR=str(self.cluster.tmp / f"state-{name}"))
        if how == "compose":
            worker = deployfiles.load_compose(self.cluster.compose_env)["services"]["worker"]
            argv = deployfiles.local_command(worker["command"])
        else:
            unit_env = {
                **deployfiles.read_env_file(deployfiles.WORKER_UNIT.with_name("modelfleet.env"))
            }
            argv = deployfiles.exec_start(deployfiles.WORKER_UNIT, unit_env, name)
        host.start(argv, env, self.log(host), cpu=cpu)
        self.workers.append(host)
        return host

    def wait_ready(self, host: Host, timeout: float = 120) -> None:
        env = self.env(MODELFLEET_STATE_DIR=str(self.cluster.tmp / f"state-{host.name}"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if host.processes[0].poll() is not None:
                pytest.fail(f"worker on {host.name} exited:\n{self.log(host).read_text()[-3000:]}")
            if host.run([MODELFLEET, "probe", "ready", "--quiet"], env).returncode == 0:
                return
            time.sleep(0.5)
        pytest.fail(f"worker on {host.name} not ready:\n{self.log(host).read_text()[-3000:]}")

    def log(self, host: Host) -> Path:
        return self.cluster.tmp / f"{host.name}.log"

    def served(self, host: Host) -> int:
        """Tasks this host's worker finished, from its log."""
        text = self.log(host).read_text(errors="replace")
        return text.count("] succeeded in ")

    def produce_command(self, count: int, batch: int) -> list[str]:
        argv = ["-m", "tests.cluster.produce", f"--count={count}", f"--batch={batch}"]
        return [PYTHON, *argv, "--model=paced"]

    def produce(self, count: int, batch: int) -> dict[str, object]:
        done = self.cluster.producer.run(self.produce_command(count, batch), self.env(), 300)
        assert done.returncode == 0, done.stderr[-3000:]
        result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
        return result


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = can_make_namespaces()
    if reason:
        pytest.skip(f"no network namespaces here: {reason}")
    tmp = tmp_path_factory.mktemp("cluster")
    network = Network(REPO)
    try:
        redis, producer = network.add_host("redis"), network.add_host("producer")
        compose_env = deployfiles.read_env_file(deployfiles.COMPOSE_ENV)
        service = deployfiles.load_compose(compose_env)["services"]["redis"]
        argv = [redis_server_binary(), *service["command"][1:], "--dir", str(tmp)]
        redis.start(argv, dict(os.environ), tmp / "redis.log")
        made = Cluster(network, redis, producer, tmp, compose_env)
        ping = [
            PYTHON,
            "-c",
            "import os, redis; redis.Redis.from_url(os.environ['CELERY_BROKER_URL']).ping()",
        ]
        deadline = time.monotonic() + 30
        while producer.run(ping, made.env(), 30).returncode != 0:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Redis on the redis host does not answer:\n{(tmp / 'redis.log').read_text()}"
                )
            time.sleep(0.2)
        yield made
    finally:
        network.close()


@pytest.fixture
def fleet(cluster: Cluster) -> Iterator[Fleet]:
    made = Fleet(cluster)
    yield made
    for host in made.workers:
        host.stop()
