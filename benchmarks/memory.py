"""Memory of a worker serving a large model: a private copy per child vs weights mapped once.

Starts a private Redis and real ``celery -A tasks worker`` processes serving the ``dense`` model
(one ``.npy`` file of ``--size-mb`` MB), at each concurrency, with ``MODELFLEET_MMAP_WEIGHTS``
off (each child ``np.load``s its own copy) and on (each child maps the file read-only). Once
every child has loaded and answered, it sums proportional set size (PSS, from
``/proc/<pid>/smaps_rollup``) over the worker and its children: shared pages count once in
total, so the sum is what the machine really spends.

    python benchmarks/memory.py [--size-mb 512] [--concurrency 2 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from producer.executor import FleetExecutor
from producer.local.embedded_redis import start_redis
from producer.local.worker import start_worker
from producer.status import child_loads
from worker_config.plugins.mapped import save_npy
from worker_config.settings import Settings

#: Input rows of the dense model; its columns make up the size.
ROWS = 4096


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def measure(
    redis_url: str, weights: Path, concurrency: int, mapped: bool, workdir: Path
) -> tuple[float, float, float]:
    """Total PSS (MB) of worker + children, the parent's share, and seconds until ready."""
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
    env.update(
        CELERY_BROKER_URL=redis_url + "/0",
        CELERY_RESULT_BACKEND=redis_url + "/1",
        MODELFLEET_QUEUE=f"bench-{tag}",
        MODELFLEET_KEY_PREFIX=f"bench-{tag}:",
        MODELFLEET_INPUT_PREFIX=f"bench-{tag}:input:",
        MODELFLEET_MODEL="dense",
        MODELFLEET_SOURCE="redis",
        MODELFLEET_MODEL_PATH=str(weights),
        MODELFLEET_MMAP_WEIGHTS="true" if mapped else "false",
        MODELFLEET_MICROBATCH_MAX="1",
        MODELFLEET_CACHE_DIR=str(workdir / "cache"),
        PYTHONPATH=str(Path(__file__).resolve().parent.parent),
    )
    settings = Settings(
        CELERY_BROKER_URL=env["CELERY_BROKER_URL"],
        CELERY_RESULT_BACKEND=env["CELERY_RESULT_BACKEND"],
        queue=env["MODELFLEET_QUEUE"],
        key_prefix=env["MODELFLEET_KEY_PREFIX"],
        input_prefix=env["MODELFLEET_INPUT_PREFIX"],
        source="redis",
        model="dense",
    )
    client = redis.Redis.from_url(settings.input_url)
    ids = list(range(concurrency * 4))
    client.mset({f"{settings.input_prefix}{i}": json.dumps([1.0] * ROWS) for i in ids})
    client.close()
    started = time.monotonic()
    worker = start_worker(env, workdir / f"worker-{tag}.log", concurrency=concurrency)
    try:
        worker.wait_ready(settings, concurrency, timeout=600)
        ready = time.monotonic() - started
        with FleetExecutor(settings, batch_size=1) as ex:  # every child reads every weight
            list(ex.map(ids, timeout=600))
        pids = [worker.process.pid, *child_loads(settings, worker.hostname)]
        total = sum(pss_kib(pid) for pid in pids) / 1024
        return total, pss_kib(worker.process.pid) / 1024, ready
    finally:
        worker.stop(timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512, help="model size in MB")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[2, 8])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelfleet-memory-") as tmp:
        workdir = Path(tmp)
        cols = args.size_mb * 2**20 // (ROWS * 4)
        weights = workdir / "weights.npy"
        rng = np.random.default_rng(0)
        save_npy(weights, rng.standard_normal((ROWS, cols), dtype=np.float32))
        size = weights.stat().st_size / 2**20
        tiny = workdir / "tiny.npy"  # the same worker with a 16 KB model: what Python costs
        save_npy(tiny, np.ones((ROWS, 1), dtype=np.float32))
        server = start_redis(workdir / "redis")
        try:
            url = server.url(0).rsplit("/", 1)[0]
            print(
                f"# python {platform.python_version()}, numpy {np.__version__}, "
                f"{os.cpu_count()} cores, {platform.machine()}; model: dense, "
                f"{ROWS}x{cols} float32 = {size:.0f} MB in one .npy file"
            )
            print(
                "| concurrency | weights | total PSS (MB) | parent PSS (MB) | "
                "x model size | (total - baseline) / model size | ready (s) |"
            )
            print("|---:|---|---:|---:|---:|---:|---:|")
            for concurrency in args.concurrency:
                base, parent, ready = measure(url, tiny, concurrency, True, workdir)
                print(
                    f"| {concurrency} | none (16 KB model: the baseline) | {base:,.0f} | "
                    f"{parent:,.0f} | - | - | {ready:.1f} |",
                    flush=True,
                )
                for mapped in (False, True):
                    total, parent, ready = measure(url, weights, concurrency, mapped, workdir)
                    label = "mapped read-only" if mapped else "copy per child"
                    print(
                        f"| {concurrency} | {label} | {total:,.0f} | {parent:,.0f} | "
                        f"{total / size:.2f} | {(total - base) / size:.2f} | {ready:.1f} |",
                        flush=True,
                    )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
