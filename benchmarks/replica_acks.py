"""What ``MODELFLEET_REPLICA_ACKS=1`` costs per task: sends and result stores, side by side.

Starts a private master and replica (AOF, fsync every second) on free ports. A producer pays
one ``WAIT`` per chunk of 1,000 sends (``replication.confirm``); a worker pays one per stored
result. Each operation is timed on its own, with and without the setting, alternating, and the
medians are compared, so a busy machine's pauses do not decide the answer.
``python benchmarks/replica_acks.py``
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

from producer.executor import SEND_CHUNK
from producer.local.embedded_redis import start_redis
from worker_config import celeryconfig, clients, replication, settings
from worker_config.celery_ext.backend import result_backend

#: Timed operations of each kind, with and without the setting.
REPEATS = 2_000
DURABLE = ["--appendonly", "yes", "--appendfsync", "everysec"]


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="mf-acks-"))
    master = start_redis(base / "master", args=DURABLE)
    replica = start_redis(
        base / "replica", args=[*DURABLE, "--replicaof", "127.0.0.1", str(master.port)]
    )
    link = redis.Redis(port=replica.port)
    while link.info("replication")["master_link_status"] != "up":
        time.sleep(0.1)
    try:
        backends, confs = {}, {}
        for acks in (0, 1):
            # The worker's backend reads the setting from the environment, as a worker does.
            os.environ["MODELFLEET_REPLICA_ACKS"] = str(acks)
            settings.get_settings.cache_clear()
            confs[acks] = settings.get_settings().model_copy(
                update={"broker_url": master.url(0), "result_backend": master.url(1)}
            )
            app = Celery(set_as_current=False)
            app.conf.update(celeryconfig.celery_config(confs[acks]))
            backends[acks] = result_backend(app)
        client = clients.broker(confs[1])
        confirm: list[float] = []
        store: dict[int, list[float]] = {0: [], 1: []}
        for _ in range(REPEATS):
            client.lpush("bench-queue", b"x" * 600)  # a task message's size
            start = time.perf_counter()
            replication.confirm(client, confs[1])
            confirm.append(time.perf_counter() - start)
            for acks in (0, 1):
                start = time.perf_counter()
                backends[acks].store_result(str(uuid.uuid4()), {"id": 1, "output": {}}, "SUCCESS")
                store[acks].append(time.perf_counter() - start)
    finally:
        replica.stop()
        master.stop()
    send_cost = _median_ms(confirm) / SEND_CHUNK
    store_off, store_on = _median_ms(store[0]), _median_ms(store[1])
    print(f"redis-py {redis.__version__}, {os.cpu_count()} cores; medians of {REPEATS}")
    print("| per task | MODELFLEET_REPLICA_ACKS=0 | =1 | cost |")
    print("|---|---|---|---|")
    print(f"| send (one WAIT per {SEND_CHUNK}) | - | - | +{send_cost:.4f} ms |")
    cost = store_on - store_off
    print(f"| result store | {store_off:.3f} ms | {store_on:.3f} ms | {cost:+.3f} ms |")


if __name__ == "__main__":
    main()
