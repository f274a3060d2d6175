"""The issue-16 figures: N digits IDs to a Parquet data set vs the same job through the result
backend, with Redis ``used_memory_peak`` over its baseline and the producer's peak RSS.

    PYTHONPATH=. python -m benchmarks.sink_job            # 1,000,000 IDs (MODELFLEET_BENCH_IDS)

Each path gets a fresh embedded Redis and one worker of 2 children; the producer runs in its
own process so its ``ru_maxrss`` is its own. The result-backend path keeps every item in Redis
until it expires, which is what the sink path avoids.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from producer.local.embedded_redis import start_redis
from producer.local.worker import start_worker
from worker_config.settings import Settings

N = int(os.environ.get("MODELFLEET_BENCH_IDS", "1000000"))
SOURCE = "tests.sinks.plugins:modulo_digits"  # row id % 1797, so any number of IDs is valid

SINK_PRODUCER = """
import sys
from producer import FleetExecutor
n, url = int(sys.argv[1]), sys.argv[2]
with FleetExecutor(batch_size=1000) as ex:
    r = ex.map_to_sink(range(n), url)
assert r.rows == n, r
import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
BACKEND_PRODUCER = """
import sys
from producer import FleetExecutor
n = int(sys.argv[1])
with FleetExecutor(batch_size=1000) as ex:
    assert sum(1 for _ in ex.map(range(n))) == n
import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run(path: str, work: Path) -> dict[str, float]:
    server = start_redis(work / f"redis-{path}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
    env.update(
        CELERY_BROKER_URL=server.url(0),
        CELERY_RESULT_BACKEND=server.url(1),
        MODELFLEET_SOURCE=SOURCE,
        MODELFLEET_CACHE_DIR=str(work / "cache"),
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    settings = Settings(CELERY_BROKER_URL=server.url(0), CELERY_RESULT_BACKEND=server.url(1))
    worker = start_worker(env, work / f"worker-{path}.log", concurrency=2)
    try:
        worker.wait_ready(settings, 2, timeout=300)
        client = redis.Redis.from_url(server.url(0))
        baseline = int(client.info("memory")["used_memory"])
        out = work / "out"
        code = SINK_PRODUCER if path == "sink" else BACKEND_PRODUCER
        args = [str(N), out.as_uri()] if path == "sink" else [str(N)]
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", code, *args], env=env, check=True, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        rss = int(done.stdout.split()[-1])  # the producer's own ru_maxrss, KiB on Linux
        peak = int(client.info("memory")["used_memory_peak"])
        return {
            "seconds": seconds,
            "items/s": N / seconds,
            "redis peak over baseline MB": (peak - baseline) / 1e6,
            "producer peak RSS MB": rss / 1024,
        }
    finally:
        worker.stop(timeout=30)
        server.stop()


def main() -> None:
    print(f"{N:,} digits IDs, one worker of 2 children, python {sys.version.split()[0]}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    paths = sys.argv[1:] or ["sink", "backend"]
    with tempfile.TemporaryDirectory(prefix="modelfleet-sink-bench-") as tmp:
        for path in paths:
            figures = run(path, Path(tmp))
            print(path.ljust(8), "  ".join(f"{k}: {v:,.1f}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
