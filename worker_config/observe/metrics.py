"""Prometheus metrics from every pool child, served by the worker parent in one scrape.

prometheus-client's multiprocess mode: each child writes its samples to files in a directory
that the parent made before forking; the parent's HTTP server sums them. On only when
``MODELFLEET_METRICS_PORT`` is set. Flower's own ``/metrics`` covers task events and workers;
these cover what Flower cannot see: model load time, batch sizes, per-item inference time.
The handlers here are connected by ``lifecycle.py``; importing this module connects nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from worker_config.runtime.state import current
from worker_config.settings import get_settings

logger = logging.getLogger(__name__)

#: prometheus-client reads the multiprocess directory from this variable.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

LOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 10_000)
PER_ITEM_BUCKETS = (1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5)


def enabled() -> bool:
    """True in a worker (parent or child) started with ``MODELFLEET_METRICS_PORT``."""
    return current().metrics_dir is not None


def _define() -> dict[str, Any]:
    """The metric objects, made in the child on first use (they must see the multiproc dir)."""
    metrics = current().metrics
    if not metrics:
        from prometheus_client import Counter, Histogram, values

        # If anything imported prometheus-client before the directory was set, its values
        # would live in this process only; switch to the file-backed kind.
        if not getattr(values.ValueClass, "__name__", "").startswith("MmapedValue"):
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
        metrics.update(
            load=Histogram(
                "modelfleet_model_load_seconds",
                "Seconds a pool child took to load its model.",
                ["model", "version"],
                buckets=LOAD_BUCKETS,
            ),
            batch=Histogram(
                "modelfleet_batch_size",
                "IDs per task.",
                ["task"],
                buckets=BATCH_BUCKETS,
            ),
            per_item=Histogram(
                "modelfleet_inference_seconds_per_item",
                "Task seconds divided by its IDs.",
                ["task"],
                buckets=PER_ITEM_BUCKETS,
            ),
            items=Counter(
                "modelfleet_items", "Result items by outcome (ok or error).", ["outcome"]
            ),
            dead=Counter(
                "modelfleet_dead_lettered_items",
                "Items answered DeadLettered: their input killed a child too often.",
            ),
            tasks=Counter("modelfleet_tasks", "Tasks by name and final state.", ["task", "state"]),
        )
    return metrics


def observe_load(model: str, version: str, seconds: float) -> None:
    if enabled():
        _define()["load"].labels(model, version).observe(seconds)


def observe_task(
    task: str, state: str, *, batch: int, ok: int, errors: int, dead: int, seconds: float
) -> None:
    if not enabled():
        return
    m = _define()
    m["tasks"].labels(task, state).inc()
    if batch:
        m["batch"].labels(task).observe(batch)
        m["per_item"].labels(task).observe(seconds / batch)
    if ok:
        m["items"].labels("ok").inc(ok)
    if errors:
        m["items"].labels("error").inc(errors)
    if dead:
        m["dead"].inc(dead)


def prepare(**_: Any) -> None:
    """Before the fork: a fresh directory that every child writes its samples to."""
    if get_settings().metrics_port is None:
        return
    folder = current().metrics_dir = tempfile.mkdtemp(prefix="modelfleet-metrics-")
    os.environ[MULTIPROC_ENV] = folder


def serve(**_: Any) -> None:
    """After the fork, so no child inherits the server's thread: sum the children's files."""
    settings, folder = get_settings(), current().metrics_dir
    if folder is None or settings.metrics_port is None:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    start_http_server(settings.metrics_port, settings.metrics_address, registry=registry)
    logger.info(
        "modelfleet: metrics on http://%s:%d/metrics",
        settings.metrics_address,
        settings.metrics_port,
    )


def child_exits(**_: Any) -> None:
    if enabled():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def clean_up(**_: Any) -> None:
    folder = current().metrics_dir
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
