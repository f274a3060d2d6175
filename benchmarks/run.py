"""Run every configuration on every workload in one go and report the ratios (``make bench``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from benchmarks import batch_rows, configs, procstat, report, spy
from benchmarks.fleet import REPO, Fleet
from benchmarks.measure import Row, Sides, measure, summarise
from producer.executor import FleetExecutor
from producer.local.embedded_redis import start_redis
from producer.status import child_loads
from worker_config.contract import InputId
from worker_config.cores import usable_cores
from worker_config.plugins import resolve_model, resolve_source
from worker_config.plugins.models.digits import N_ROWS
from worker_config.runtime.inference import Predictor
from worker_config.settings import Settings

RESULTS = REPO / "benchmarks" / "results"


@dataclass
class Workload:
    """A model and how many IDs each kind of configuration gets."""

    name: str
    n_each: int  # per-ID configurations (a task or a call per ID)
    n_bulk: int  # batched configurations
    mlp_mb: float = 64.0


QUICK = [Workload("digits", 600, 8_000), Workload("forest", 240, 8_000)]
FULL = [
    Workload("digits", 1_500, 200_000),
    Workload("forest", 500, 200_000),
    Workload("mlp", 300, 3_000, mlp_mb=200.0),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer IDs, two workloads")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration (median)")
    parser.add_argument("--only", help="comma-separated workloads to run")
    parser.add_argument(
        "--batch-rows", action="store_true", help="only the batch rows of issue 12 (map vs PPE)"
    )
    parser.add_argument("--bulk", type=int, help="IDs of the batched configurations (map, PPE)")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the producer and children during a map"
    )
    args = parser.parse_args(argv)
    workloads = QUICK if args.quick else FULL
    if args.only:
        workloads = [w for w in workloads if w.name in args.only.split(",")]
    if args.bulk:
        workloads = [dataclasses.replace(w, n_bulk=args.bulk) for w in workloads]
    children = min(2, usable_cores())
    workdir = Path(tempfile.mkdtemp(prefix="modelfleet-bench-"))
    cache = Path(os.environ.get("MODELFLEET_CACHE_DIR", Path.home() / ".cache" / "modelfleet"))
    facts = report.machine_facts(children)
    print(report.header(facts), flush=True)
    rows: list[Row] = []
    extras: dict[str, Any] = {}
    server = start_redis(workdir / "redis")
    try:
        for workload in workloads:
            env = {
                "MODELFLEET_MODEL": workload.name,
                "BENCH_MODEL": workload.name,
                "MODELFLEET_CACHE_DIR": str(cache),
                "MODELFLEET_MLP_MB": str(workload.mlp_mb),
            }
            fleet = Fleet(server, workdir, env)
            try:
                found, extra = run_workload(
                    fleet,
                    workload,
                    children,
                    args.repeats,
                    args.quick,
                    batch_only=args.batch_rows,
                    profile=args.profile,
                )
            finally:
                fleet.stop()
            rows += found
            extras[workload.name] = extra
            print(report.table(workload.name, found, extra), flush=True)
            print(batch_rows.summary(workload.name, found, extra), flush=True)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    facts["load_average_after"] = os.getloadavg()
    verdicts = report.targets(rows, extras) + batch_rows.targets(rows, extras)
    print(report.verdict_text(verdicts, facts))
    stem = "quick" if args.quick else "bench"
    report.write(
        directory=RESULTS, stem=stem, facts=facts, rows=rows, extras=extras, verdicts=verdicts
    )
    print(f"rows: {RESULTS / (stem + '.json')}; charts: {RESULTS}/{stem}-<workload>.png")
    return 0 if all(r.ok for r in rows) else 1


def preload_seconds(settings: Settings) -> float:
    """Seconds a fresh interpreter takes to import what a worker parent imports before it forks
    (``startup.preload_modules``): part of a cold start that the children's load time no
    longer includes, since the children inherit those modules instead of importing them."""
    import subprocess
    import sys

    from worker_config.runtime.startup import preload_modules

    names = preload_modules(settings)
    code = (
        "import importlib, time\nstart = time.perf_counter()\n"
        f"for name in {names!r}:\n"
        "    try:\n        importlib.import_module(name)\n    except ImportError:\n        pass\n"
        "print(time.perf_counter() - start)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return round(float(out.stdout.strip().splitlines()[-1]), 3)


def run_workload(  # noqa: PLR0912, PLR0915 (one straight script of configurations, easier to read whole)
    fleet: Fleet,
    w: Workload,
    children: int,
    repeats: int,
    quick: bool,
    *,
    batch_only: bool = False,
    profile: bool = False,
) -> tuple[list[Row], dict[str, Any]]:
    for key, value in fleet.model_env.items():
        os.environ[key] = value  # the seed pool's processes read them
    settings = Settings(model=w.name, cache_dir=fleet.model_env["MODELFLEET_CACHE_DIR"])
    settings = settings.model_copy(update={"mlp_mb": w.mlp_mb})
    predictor = Predictor(
        resolve_model(w.name)(settings), resolve_source("digits")(settings), 100_000
    )
    reference = {
        i: item["output"] for i, item in enumerate(predictor.predict_batch(list(range(N_ROWS))))
    }

    def check(ids: list[int], items: list[dict[str, Any]]) -> bool:
        return len(items) == len(ids) and all(
            item.get("id") == i and same_output(item.get("output"), reference[i])
            for i, item in zip(ids, items, strict=True)
        )

    each = [i % N_ROWS for i in range(w.n_each)]
    bulk = [(i * 7) % N_ROWS for i in range(w.n_bulk)]
    rows: list[Row] = []
    extra: dict[str, Any] = {}
    redis_pid = fleet.redis.process.pid

    def run(config: str, group: str, ids: list[int], body: Any, sides: Sides) -> Row:
        body(ids[: max(children * 20, 40)])  # warm up: models loaded, costs measured
        row = measure(
            workload=w.name, config=config, group=group, ids=ids, body=body, sides=sides,
            check=check, repeats=repeats,
        )  # fmt: skip
        rows.append(row)
        print(f"  {w.name:7} {config:42} {row.per_second:10,.0f}/s ok={row.ok}", flush=True)
        return row

    local = Sides()
    extra.update(batch_rows.physical_limit(predictor, bulk, children))
    if w.name == "digits":
        extra.update(batch_rows.json_costs(predictor))
    if not batch_only:
        run("serial loop", "baseline", each, configs.serial_loop(predictor), local)
        run("serial vectorised", "baseline", bulk, configs.serial_vectorised(predictor), local)
        run(f"ThreadPoolExecutor({children}) per ID", "baseline", each,
            configs.thread_pool(predictor, children), local)  # fmt: skip
    del predictor
    with ProcessPoolExecutor(children) as pool:
        pool_sides = Sides(worker_pids=lambda: list(pool._processes))
        if not batch_only:
            run(f"ProcessPoolExecutor({children}) per ID", "baseline", each,
                configs.process_pool(pool, None), pool_sides)  # fmt: skip
        for size in batch_rows.ppe_sizes(len(bulk), children):
            run(batch_rows.ppe_config(children, size), "baseline", bulk,
                configs.process_pool(pool, size), pool_sides)  # fmt: skip
    best = batch_rows.best_ppe(rows, w.name)

    # Cold start: the first result of a fresh worker, against its children's model load time.
    started = time.perf_counter()
    worker, mf = fleet.start_modelfleet(f"mf-{w.name}", children, wait=False)
    with FleetExecutor(mf) as executor:
        first = list(executor.submit_each([0]).results(timeout=300))
        cold = time.perf_counter() - started
        worker.wait_ready(mf, children, timeout=300)
        loads = child_loads(mf, worker.hostname)
        extra["cold_start_s"] = round(cold, 3)
        extra["model_load_s"] = round(max(c.load_seconds for c in loads.values()), 3)
        extra["preload_s"] = preload_seconds(settings)
        extra["cold_ok"] = same_output(first[0]["output"], reference[0])
        fleet_sides = Sides(lambda: procstat.descendants(worker.process.pid), redis_pid)
        map_rows(run, executor, bulk, best, fleet_sides, extra=extra, check=check,
                 children=children, rounds=max(5, repeats))  # fmt: skip
        if profile:
            workers = procstat.descendants(worker.process.pid)[1:]
            pids = {"producer": os.getpid()} | {f"child{i}": p for i, p in enumerate(workers)}
            body = lambda: configs.fleet_map(executor)(bulk)  # noqa: E731
            extra.update(spy.profile(pids, body, RESULTS, f"profile-{w.name}-map"))
        if batch_only:
            return rows, extra
        run("modelfleet per-ID tasks, micro-batched", "modelfleet", each,
            configs.fleet_each(executor), fleet_sides)  # fmt: skip
        if w.name == "forest" and not quick:  # issue 12's per-ID target, past the start-up
            sustained = [i % N_ROWS for i in range(batch_rows.EACH_SUSTAINED_IDS)]
            run(batch_rows.EACH_SUSTAINED, "modelfleet", sustained,
                configs.fleet_each(executor), fleet_sides)  # fmt: skip
        if w.name == "digits":
            extra.update(idle_latency(executor, "modelfleet per ID, micro-batched"))
            extra.update(enqueue(fleet, mf, 20_000 if quick else 100_000))
            extra.update(read_back(executor, each, fleet))

    single, mf1 = fleet.start_modelfleet(f"mf1-{w.name}", children, MODELFLEET_MICROBATCH_MAX="1")
    with FleetExecutor(mf1) as executor:
        sides = Sides(lambda: procstat.descendants(single.process.pid), redis_pid)
        run("modelfleet per-ID tasks, no micro-batching", "modelfleet", each,
            configs.fleet_each(executor), sides)  # fmt: skip
        if w.name == "digits":
            extra.update(idle_latency(executor, "modelfleet per ID, no micro-batching"))
    fleet.stop_worker(single)

    stock_queue = f"stock-{w.name}"
    stock = fleet.start_celery_app("benchmarks.stock_celery", stock_queue, children)
    app = Celery("bench-client", broker=fleet.redis.url(0), backend=fleet.redis.url(1))
    app.conf.update(task_serializer="json", accept_content=["json"])
    stock_body = configs.celery_per_id(app, "stock.predict", stock_queue)
    stock_body([0, 1])  # waits for the worker to start
    run("stock Celery, one task per ID", "stock Celery", each, stock_body,
        Sides(lambda: procstat.descendants(stock.pid), redis_pid))  # fmt: skip
    if w.name == "digits":
        extra.update(idle_latency_celery(app, stock_queue))

    if batches_available():
        queue = f"batches-{w.name}"
        proc = fleet.start_celery_app("benchmarks.batches_app", queue, children)
        body = configs.celery_per_id(app, "batches.predict", queue)
        body([0, 1])
        run("celery-batches per-ID tasks", "celery-batches", each, body,
            Sides(lambda: procstat.descendants(proc.pid), redis_pid))  # fmt: skip
    app.close()

    if not quick:  # scaling: the same map on one child
        one, mfc1 = fleet.start_modelfleet(f"mfc1-{w.name}", 1)
        with FleetExecutor(mfc1) as executor:
            run("modelfleet map, 1 child", "scaling", bulk, configs.fleet_map(executor),
                Sides(lambda: procstat.descendants(one.process.pid), redis_pid))  # fmt: skip
        fleet.stop_worker(one)
    return rows, extra


def same_output(ours: Any, reference: Any) -> bool:
    """Equal outputs, floats within 2e-4: float32 matrix products of other batch shapes round
    differently (BLAS picks kernels by shape), so mlp's 4-decimal confidence can move by 1e-4."""
    if isinstance(ours, dict) and isinstance(reference, dict):
        return ours.keys() == reference.keys() and all(
            same_output(ours[k], reference[k]) for k in ours
        )
    if isinstance(ours, float) and isinstance(reference, float):
        return math.isclose(ours, reference, rel_tol=1e-6, abs_tol=2e-4)
    return bool(ours == reference)


def map_rows(
    run: Any,
    executor: FleetExecutor,
    bulk: list[int],
    best: Row | None,
    sides: Sides,
    *,
    extra: dict[str, Any],
    check: batch_rows.Check,
    children: int,
    rounds: int,
) -> None:
    """The map with its automatic batch size, then at the batch size of the best PPE row; and
    the map against best PPE in alternating rounds, the ratio the target is judged on."""
    configs.fleet_map(executor)(bulk)  # a first job: the children's samples feed the fit
    run(batch_rows.MAP_AUTO, "modelfleet", bulk, configs.fleet_map(executor), sides)
    planned: list[InputId] = list(bulk)
    extra["map auto batch size"] = len(executor._plan(planned, None)[0])
    if best is None:
        return
    best_size = int(best.config.split(") ")[1].split("-")[0])
    size = min(best_size, executor.settings.max_batch)
    run(batch_rows.MAP_EQUAL, "modelfleet", bulk, configs.fleet_map(executor, size), sides)
    with ProcessPoolExecutor(children) as pool:
        ppe = configs.process_pool(pool, best_size)
        ppe(bulk[: best_size * 2])  # warm up: each process has loaded its model
        extra[batch_rows.PAIRED] = batch_rows.paired(
            configs.fleet_map(executor), ppe, bulk, check=check, rounds=rounds, config=best.config
        )


def idle_latency(executor: FleetExecutor, label: str, n: int = 200) -> dict[str, Any]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        list(executor.submit_each([i % N_ROWS]).results(timeout=60))
        times.append((time.perf_counter() - start) * 1000)
    p50, p99 = summarise(times)
    return {f"idle latency: {label}": [round(p50, 2), round(p99, 2)]}


def idle_latency_celery(app: Celery, queue: str, n: int = 200) -> dict[str, Any]:
    times = []
    for i in range(n):
        start = time.perf_counter()
        app.send_task("stock.predict", args=[i % N_ROWS], queue=queue).get(timeout=60)
        times.append((time.perf_counter() - start) * 1000)
    p50, p99 = summarise(times)
    return {"idle latency: stock Celery per ID": [round(p50, 2), round(p99, 2)]}


def enqueue(fleet: Fleet, settings: Settings, n: int) -> dict[str, Any]:
    """Submit ``n`` IDs to a queue nobody consumes, batched and one task per ID; then drop it."""
    dead = settings.model_copy(update={"queue": f"nobody-{settings.queue}"})
    client = redis.Redis.from_url(fleet.redis.url(0))
    out: dict[str, Any] = {}
    with FleetExecutor(dead) as executor:
        start = time.perf_counter()
        job = executor.submit_batches(range(n))
        out["enqueue_map_s"] = [n, round(time.perf_counter() - start, 3), len(job.task_ids)]
        client.delete(dead.queue)
        each = min(n, 100_000)
        start = time.perf_counter()
        executor.submit_each(range(each))
        out["enqueue_each_s"] = [each, round(time.perf_counter() - start, 3), each]
        client.delete(dead.queue)
    client.close()
    return out


def read_back(executor: FleetExecutor, ids: list[int], fleet: Fleet) -> dict[str, Any]:
    """Redis calls the producer makes to read a job's results back, per task."""
    client = redis.Redis.from_url(fleet.redis.url(0))

    def calls() -> dict[str, int]:
        stats = client.info("commandstats")
        return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}

    job = executor.submit_each(ids)  # one task per ID: the worst case for reading back
    before = calls()
    list(job.results(timeout=600))
    after = calls()
    client.close()
    mget = after.get("mget", 0) - before.get("mget", 0)
    return {"read_back": {"tasks": len(job.task_ids), "ids": len(ids), "mget_calls": mget}}


def batches_available() -> bool:
    try:
        import celery_batches  # noqa: F401
    except ImportError:
        return False
    return True


def dump(rows: list[Row]) -> str:
    return json.dumps([r.as_dict() for r in rows], indent=1)
