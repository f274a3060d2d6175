"""Prometheus: the workers' metrics across prefork children, and Flower's, count what was sent."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from producer import FleetExecutor
from producer.local.embedded_redis import free_port
from tests.conftest import WorkerFactory
from tests.ecosystem.conftest import FlowerProcess
from worker_config.settings import Settings

BATCH = "modelfleet.predict_batch"


def scrape(
    url: str, headers: dict[str, str] | None = None
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_worker_and_flower_metrics_count_what_was_sent(
    worker_factory: WorkerFactory, fleet_settings: Settings, flower: FlowerProcess
) -> None:
    port = free_port()
    worker = worker_factory(
        env={"MODELFLEET_METRICS_PORT": str(port), "MODELFLEET_LOG_FORMAT": "json"}
    )
    batches = [list(range(5)), [*range(8), "bad", 99_999], list(range(100, 120))]
    with FleetExecutor(fleet_settings) as executor:
        jobs = [executor.submit_batches(b, batch_size=len(b)) for b in batches]
        for job in jobs:
            assert len(list(job.results(timeout=60))) == job.size
    task_ids = [job.task_ids[0] for job in jobs]

    # The parent sums the children's files: both children loaded once, three batches ran.
    url = f"http://127.0.0.1:{port}/metrics"
    samples: dict[Any, float] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = scrape(url)
        if value(samples, "modelfleet_tasks_total", task=BATCH, state="SUCCESS") == 3:
            break
        time.sleep(0.2)
    assert value(samples, "modelfleet_tasks_total", task=BATCH, state="SUCCESS") == 3
    assert value(samples, "modelfleet_batch_size_count", task=BATCH) == 3
    assert value(samples, "modelfleet_batch_size_sum", task=BATCH) == 35
    assert value(samples, "modelfleet_items_total", outcome="ok") == 33
    assert value(samples, "modelfleet_items_total", outcome="error") == 2
    assert value(samples, "modelfleet_inference_seconds_per_item_count", task=BATCH) == 3
    loads = [v for (n, _), v in samples.items() if n == "modelfleet_model_load_seconds_count"]
    assert sum(loads) == 2  # one load in each of the two children

    # Flower counts the same tasks from their events.
    flower_samples: dict[Any, float] = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        flower_samples = scrape(flower.url + "/metrics", flower.auth_header)  # behind the login
        succeeded = sum(
            v
            for (n, labels), v in flower_samples.items()
            if n == "flower_events_total"
            and ("task", BATCH) in labels
            and ("type", "task-succeeded") in labels
        )
        if succeeded == 3:
            break
        time.sleep(0.2)
    assert succeeded == 3

    # One JSON log line per task with its ID, batch size, seconds and outcome.
    lines = [json.loads(x) for x in worker.log().splitlines() if x.startswith("{")]
    task_lines = {x["task_id"]: x for x in lines if "batch_size" in x}
    assert set(task_lines) == set(task_ids)
    assert [task_lines[t]["batch_size"] for t in task_ids] == [5, 10, 20]
    assert [task_lines[t]["outcome"] for t in task_ids] == ["ok", "item-errors", "ok"]
    assert all(task_lines[t]["seconds"] >= 0 for t in task_ids)


def test_dead_lettered_items_are_counted_apart_from_other_errors() -> None:
    from worker_config.observe.task_log import item_counts

    items = [
        {"id": 1, "output": {"label": 1}},
        {"id": 2, "error": {"type": "DeadLettered", "message": "killed its child 3 times"}},
        {"id": 3, "error": {"type": "UnknownInput", "message": "no input"}},
    ]
    assert item_counts(items) == (1, 2, 1)
    assert item_counts({"id": 4, "output": {}}) == (1, 0, 0)  # modelfleet.predict's one item
