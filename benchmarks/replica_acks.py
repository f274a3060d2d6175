"""What ``MODELFLEET_REPLICA_ACKS=1`` costs per task: sends and result stores, side by side.

Starts a private master and replica (AOF, fsync every second) on free ports, then, alternating
the setting off and on for a few rounds, times ``FleetExecutor.submit_each`` of 10,000 IDs (one
``WAIT`` per 1,000 sends) and 2,000 result stores through the worker's backend (one ``WAIT``
each). Prints the medians per task. ``python benchmarks/replica_acks.py``
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis
from celery import Celery

from producer import FleetExecutor
from producer.local.embedded_redis import start_redis
from worker_config import celeryconfig, settings
from worker_config.celery_ext.backend import result_backend

SENDS, STORES, ROUNDS = 10_000, 2_000, 3
DURABLE = ["--appendonly", "yes", "--appendfsync", "everysec"]


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="mf-acks-"))
    master = start_redis(base / "master", args=DURABLE)
    replica = start_redis(
        base / "replica", args=[*DURABLE, "--replicaof", "127.0.0.1", str(master.port)]
    )
    link = redis.Redis(port=replica.port)
    while link.info("replication")["master_link_status"] != "up":
        time.sleep(0.1)
    timings: dict[int, dict[str, list[float]]] = {a: {"send": [], "store": []} for a in (0, 1)}
    try:
        for _ in range(ROUNDS):
            for acks in (0, 1):
                conf = settings.Settings(
                    CELERY_BROKER_URL=master.url(0),
                    CELERY_RESULT_BACKEND=master.url(1),
                    queue=f"bench-{uuid.uuid4().hex[:6]}",
                    replica_acks=acks,
                )
                # The worker's backend reads the setting from the environment, as a worker does.
                os.environ["MODELFLEET_REPLICA_ACKS"] = str(acks)
                settings.get_settings.cache_clear()
                executor = FleetExecutor(conf)
                start = time.perf_counter()
                executor.submit_each(range(SENDS))
                timings[acks]["send"].append((time.perf_counter() - start) / SENDS)
                app = Celery(set_as_current=False)
                app.conf.update(celeryconfig.celery_config(conf))
                backend = result_backend(app)
                start = time.perf_counter()
                for _ in range(STORES):
                    backend.store_result(str(uuid.uuid4()), {"id": 1, "output": {}}, "SUCCESS")
                timings[acks]["store"].append((time.perf_counter() - start) / STORES)
                redis.Redis(port=master.port).flushall()
    finally:
        replica.stop()
        master.stop()
    print(f"redis-py {redis.__version__}; {SENDS} sends, {STORES} stores, median of {ROUNDS}")
    print("| | MODELFLEET_REPLICA_ACKS=0 | =1 | cost per task |")
    print("|---|---|---|---|")
    for kind in ("send", "store"):
        off = statistics.median(timings[0][kind]) * 1000
        on = statistics.median(timings[1][kind]) * 1000
        print(f"| {kind} | {off:.3f} ms | {on:.3f} ms | {on - off:+.3f} ms |")


if __name__ == "__main__":
    main()
