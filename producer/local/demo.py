"""``make demo``: Redis, a worker, every digit ID through the fleet, and a summary."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import click

from producer.executor import FleetExecutor
from producer.local.embedded_redis import RedisServer, owns_broker, start_redis
from producer.local.worker import start_worker
from producer.progress import progress
from producer.status import child_loads
from worker_config.plugins.models.digits import N_ROWS, split_ids
from worker_config.settings import load_settings


def run_demo(timeout: float = 300.0, echo: Callable[[str], None] = click.echo) -> int:
    """Run the demo end to end; stop everything it started; return 0 if all went well.

    Everything it writes (Redis data, worker log, probe files, metrics files) goes under one
    directory, removed at the end; kept, and named, only when the demo failed.
    """
    workdir = Path(tempfile.mkdtemp(prefix="modelfleet-demo-"))
    try:
        code = _run(workdir, timeout, echo)
    except BaseException:
        echo(f"the demo failed; its Redis data and worker log are in {workdir}")
        raise
    if code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        echo(f"the demo's Redis data and worker log are in {workdir}")
    return code


def _run(workdir: Path, timeout: float, echo: Callable[[str], None]) -> int:
    env = dict(os.environ)
    # The worker's probe files and its own temporary files (metrics) go under workdir too.
    env.setdefault("MODELFLEET_STATE_DIR", str(workdir / "state"))
    env["TMPDIR"] = str(workdir)
    server: RedisServer | None = None
    if owns_broker():
        server = start_redis(workdir / "redis")
        env["CELERY_BROKER_URL"] = server.url(0)
        env["CELERY_RESULT_BACKEND"] = server.url(1)
        echo(
            f"started an embedded Redis on port {server.port} (set CELERY_BROKER_URL to use yours)"
        )
    os.environ.update(env)
    settings = load_settings()
    worker = start_worker(env, workdir / "worker.log", name=f"demo-{os.getpid()}")
    try:
        started = time.perf_counter()
        echo(
            f"started worker {worker.hostname} with {settings.worker_concurrency} children; "
            "loading the model"
        )
        worker.wait_ready(settings, settings.worker_concurrency, timeout=timeout)
        echo(f"worker ready in {time.perf_counter() - started:.1f}s; sending {N_ROWS} IDs")
        ids = list(range(N_ROWS))
        started = time.perf_counter()
        with FleetExecutor(settings) as executor, progress(len(ids), "predicting") as update:
            items = list(executor.map(ids, timeout=timeout, on_progress=update))
        elapsed = time.perf_counter() - started
        summary, errors = _summary(items, elapsed)
        loads = child_loads(settings, worker.hostname)
    finally:
        status = worker.stop()
        if server:
            server.stop()
    for line in summary:
        echo(line)
    per_child = ", ".join(f"pid {c.pid}: {c.loads}" for c in loads.values())
    echo(f"children:  {len(loads)}; model loads per child: {per_child}")
    ok = errors == 0 and len(loads) == settings.worker_concurrency
    ok = ok and all(c.loads == 1 for c in loads.values())
    echo(f"worker stopped (status {status}); {'all done' if ok else 'something went wrong'}")
    return 0 if ok and status == 0 else 1


def _summary(items: list[dict[str, object]], elapsed: float) -> tuple[list[str], int]:
    from sklearn.datasets import load_digits

    target = load_digits().target
    _, held_out = split_ids()
    predicted = {
        int(str(item["id"])): item["output"]["label"]  # type: ignore[index]
        for item in items
        if "output" in item
    }
    errors = len(items) - len(predicted)
    correct = sum(predicted.get(i) == target[i] for i in range(N_ROWS))
    held_correct = sum(predicted.get(i) == target[i] for i in held_out)
    lines = [
        f"items:     {len(items)} in input order: {[i['id'] for i in items[:3]]}...",
        f"errors:    {errors}",
        f"accuracy:  {correct / N_ROWS:.4f} on all rows, {held_correct / len(held_out):.4f} "
        f"on the {len(held_out)} held-out rows",
        f"speed:     {len(items) / elapsed:,.0f} items/s ({elapsed:.2f}s)",
    ]
    return lines, errors
