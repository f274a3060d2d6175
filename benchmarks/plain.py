"""The plain path side by side with stock Celery, in one run: one task per ID, no micro-batching.

CPU-ms per input of worker (parent + children), Redis and producer, and the idle single-ID p50,
for stock Celery (``benchmarks/stock_celery.py``), modelfleet with ``MODELFLEET_MICROBATCH_MAX=1``
and the same with ``MODELFLEET_TASK_EVENTS=false``, each on the digits model with 2 children:

    python -m benchmarks.plain [--n 1500] [--idle 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from celery import Celery

from benchmarks import configs, procstat
from benchmarks.fleet import Fleet
from benchmarks.measure import Row, Sides, measure
from benchmarks.run import idle_latency, idle_latency_celery
from producer.executor import FleetExecutor
from producer.local.embedded_redis import start_redis
from worker_config.plugins.models.digits import N_ROWS

#: Targets of issue 12: CPU per input at most this share of stock Celery's; p50 within this.
CPU_SHARE, P50_MARGIN_MS = 0.8, 0.5


def _total(row: Row) -> float:
    return row.worker_ms + row.redis_ms + row.producer_ms


def _check(ids: list[int], items: list[dict[str, Any]]) -> bool:
    return len(items) == len(ids) and all(
        item.get("id") == i and "output" in item for i, item in zip(ids, items, strict=True)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plain", description=__doc__)
    parser.add_argument("--n", type=int, default=1500, help="IDs per measured run")
    parser.add_argument("--idle", type=int, default=200, help="single-ID round trips for p50")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="modelfleet-plain-"))
    cache = Path(os.environ.get("MODELFLEET_CACHE_DIR", Path.home() / ".cache" / "modelfleet"))
    model_env = {"MODELFLEET_MODEL": "digits", "BENCH_MODEL": "digits"}
    model_env["MODELFLEET_CACHE_DIR"] = str(cache)
    os.environ.update(model_env)
    ids = [i % N_ROWS for i in range(args.n)]
    server = start_redis(workdir / "redis")
    fleet = Fleet(server, workdir, model_env)
    results: list[tuple[Row, float]] = []

    def run(config: str, body: Any, pids: Any, idle: Any) -> None:
        body(ids[:100])  # warm up
        sides = Sides(pids, fleet.redis.process.pid)
        row = measure(
            workload="digits", config=config, group="plain", ids=ids, body=body, sides=sides,
            check=_check, repeats=args.repeats,
        )  # fmt: skip
        p50 = next(iter(idle().values()))[0]
        results.append((row, p50))
        print(
            f"| {config} | {row.worker_ms:.3f} | {row.redis_ms:.3f} | {row.producer_ms:.3f} | "
            f"{_total(row):.3f} | {p50:.2f} | {row.ok} |",
            flush=True,
        )

    print(f"# {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; {args.n} IDs per run")
    print("| configuration | worker CPU-ms/input | Redis | producer | total | idle p50 ms | ok |")
    print("|---|---:|---:|---:|---:|---:|---|")
    try:
        stock = fleet.start_celery_app("benchmarks.stock_celery", "stock-plain", 2)
        app = Celery("bench-client", broker=server.url(0), backend=server.url(1))
        app.conf.update(task_serializer="json", accept_content=["json"])
        body = configs.celery_per_id(app, "stock.predict", "stock-plain")
        body([0, 1])  # waits for the worker to start
        run("stock Celery, one task per ID", body, lambda: procstat.descendants(stock.pid),
            lambda: idle_latency_celery(app, "stock-plain", args.idle))  # fmt: skip
        app.close()
        for events in ("true", "false"):
            worker, settings = fleet.start_modelfleet(
                f"plain-{events}", 2, MODELFLEET_MICROBATCH_MAX="1", MODELFLEET_TASK_EVENTS=events
            )
            with FleetExecutor(settings) as executor:
                run(f"modelfleet plain, task events {'on' if events == 'true' else 'off'}",
                    configs.fleet_each(executor),
                    lambda w=worker: procstat.descendants(w.process.pid),
                    lambda e=executor: idle_latency(e, "plain", args.idle))  # fmt: skip
            fleet.stop_worker(worker)
    finally:
        fleet.stop()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    stock_row, stock_p50 = results[0]
    for row, p50 in results[1:]:
        share = _total(row) / _total(stock_row)
        cpu = "MET" if share <= CPU_SHARE else "GAP"
        lat = "MET" if p50 <= stock_p50 + P50_MARGIN_MS else "GAP"
        print(
            f"{row.config}: CPU {share:.2f}x stock ({cpu}, target <= {CPU_SHARE}x); "
            f"idle p50 {p50 - stock_p50:+.2f} ms vs stock ({lat}, target <= +{P50_MARGIN_MS})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
