"""The configurations compared: baselines in this process, and clients of running workers."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from celery import Celery

from benchmarks import seed_pool
from benchmarks.measure import Body
from producer.batching import chunk
from producer.executor import FleetExecutor
from worker_config.runtime.inference import Predictor

Items = list[dict[str, Any]]


def _stamped(items: Iterable[dict[str, Any]]) -> tuple[Items, list[float]]:
    out, at = [], []
    for item in items:
        out.append(item)
        at.append(time.perf_counter())
    return out, at


def serial_loop(predictor: Predictor) -> Body:
    return lambda ids: _stamped(predictor.predict_one(i) for i in ids)


def serial_vectorised(predictor: Predictor, size: int = 1000) -> Body:
    def body(ids: list[int]) -> tuple[Items, list[float]]:
        return _stamped(x for batch in chunk(ids, size) for x in predictor.predict_batch(batch))

    return body


def thread_pool(predictor: Predictor, workers: int) -> Body:
    def body(ids: list[int]) -> tuple[Items, list[float]]:
        with ThreadPoolExecutor(workers) as pool:
            return _stamped(pool.map(predictor.predict_one, ids))

    return body


def process_pool(pool: ProcessPoolExecutor, batch: int | None) -> Body:
    """The seed article's ``executor.map``, per ID or over ID batches, on a warm pool."""

    def body(ids: list[int]) -> tuple[Items, list[float]]:
        if batch is None:
            return _stamped(pool.map(seed_pool.inference_task, ids))
        return _stamped(
            x for items in pool.map(seed_pool.inference_batch, chunk(ids, batch)) for x in items
        )

    return body


def celery_per_id(app: Celery, task: str, queue: str) -> Body:
    """What a stock Celery user writes: ``send_task`` per ID, then ``get`` each result."""

    def body(ids: list[int]) -> tuple[Items, list[float]]:
        results = [app.send_task(task, args=[i], queue=queue) for i in ids]
        return _stamped(r.get(timeout=600) for r in results)

    return body


def fleet_each(executor: FleetExecutor) -> Body:
    return lambda ids: _stamped(executor.submit_each(ids).results(timeout=600))


def fleet_map(executor: FleetExecutor, batch_size: int | None = None) -> Body:
    return lambda ids: _stamped(executor.map(ids, timeout=600, batch_size=batch_size))
