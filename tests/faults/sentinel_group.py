"""A Sentinel-watched Redis on free ports: one master, one replica (or more), three sentinels.

Every process is ours and stopped by its PID. The timings are short (a master is "down" after
1 s without answering) so a failover takes seconds, not the half minute of Sentinel's default.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from producer.local.embedded_redis import RedisServer, free_port, redis_server_binary, start_redis

#: The master's Sentinel service name in the tests.
MASTER_NAME = "fleetmaster"
#: What the README asks of a production Redis: AOF, fsync every second, no eviction.
DURABLE = ["--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
SENTINEL_CONF = """port {port}
bind 127.0.0.1
dir {dir}
logfile {dir}/sentinel.log
sentinel resolve-hostnames no
sentinel monitor {name} 127.0.0.1 {master} 2
sentinel down-after-milliseconds {name} 1000
sentinel failover-timeout {name} 6000
sentinel parallel-syncs {name} 1
"""


def _until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        time.sleep(0.1)


@dataclass
class SentinelGroup:
    """The processes of one group, and how to reach it."""

    master: RedisServer
    replicas: list[RedisServer]
    sentinel_ports: list[int]
    sentinels: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def url(self, db: int) -> str:
        """The kombu-style URL of the group: every sentinel, then the database."""
        return ";".join(f"sentinel://127.0.0.1:{port}/{db}" for port in self.sentinel_ports)

    def sentinel(self, index: int = 0) -> redis.Redis:
        return redis.Redis(port=self.sentinel_ports[index], socket_timeout=2, decode_responses=True)

    def master_port(self) -> int:
        """The master's port as the first sentinel sees it now."""
        _host, port = self.sentinel().sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def wait_ready(self, timeout: float = 30) -> None:
        """Every sentinel knows the replica and the two other sentinels: a failover can happen."""

        def ready() -> bool:
            for i in range(len(self.sentinel_ports)):
                state = self.sentinel(i).sentinel_master(MASTER_NAME)
                slaves, others = int(state["num-slaves"]), int(state["num-other-sentinels"])
                if slaves < len(self.replicas) or others < 2:
                    return False
            return True

        _until(ready, timeout, "a group of a master, its replicas and three sentinels")

    def wait_promoted(self, timeout: float = 60) -> RedisServer:
        """Wait until a replica is the master, by the sentinels' account and its own."""
        promoted: list[RedisServer] = []

        def done() -> bool:
            port = self.master_port()
            for replica in self.replicas:
                own = redis.Redis(port=replica.port, socket_timeout=2).info("replication")
                if replica.port == port and own["role"] == "master":
                    promoted.append(replica)
                    return True
            return False

        _until(done, timeout, "a replica promoted")
        return promoted[0]

    def stop(self) -> None:
        for process in self.sentinels:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
        for replica in self.replicas:
            replica.stop()
        self.master.stop()


def start_group(base: Path, replicas: int = 1) -> SentinelGroup:
    """Start the master, its replicas (all AOF) and three sentinels; wait until they agree."""
    master = start_redis(base / "master", args=DURABLE)
    follow = ["--replicaof", "127.0.0.1", str(master.port)]
    group = SentinelGroup(
        master,
        [start_redis(base / f"replica-{i}", args=[*DURABLE, *follow]) for i in range(replicas)],
        [free_port() for _ in range(3)],
    )
    for port in group.sentinel_ports:
        directory = base / f"sentinel-{port}"
        directory.mkdir(parents=True)
        conf = directory / "sentinel.conf"  # Sentinel rewrites its file: one each
        conf.write_text(
            SENTINEL_CONF.format(port=port, dir=directory, name=MASTER_NAME, master=master.port)
        )
        group.sentinels.append(
            subprocess.Popen(
                [redis_server_binary(), str(conf), "--sentinel"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    links = [redis.Redis(port=replica.port, socket_timeout=2) for replica in group.replicas]
    _until(
        lambda: all(link.info("replication")["master_link_status"] == "up" for link in links),
        30,
        "the replicas in sync",
    )
    group.wait_ready()
    return group
