"""A real forest worker's recorded samples lead the producer to forest-sized batches."""

from __future__ import annotations

import pytest
import redis

from producer import FleetExecutor
from producer.batching import plan_batches
from tests.conftest import WorkerFactory, settings_for, wait_until
from worker_config.cost_model import fit
from worker_config.records import costs


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_forest_worker_samples_fit_to_batches_of_thousands(
    worker_factory: WorkerFactory, fleet_env: dict[str, str]
) -> None:
    env = {**fleet_env, "MODELFLEET_MODEL": "forest"}
    worker_factory(concurrency=1, env=env)
    settings = settings_for(env)
    sizes = (16, 64, 256, 1000, 3000)
    with FleetExecutor(settings) as executor:
        for size in sizes:  # each size a new range: its first sample is written at once
            list(executor.map(range(size * 2), batch_size=size, timeout=120))
    client = redis.Redis.from_url(settings.result_backend)
    try:

        def recorded() -> costs.FleetCosts:
            return costs.read(client, settings, "forest")

        wait_until(
            lambda: {n for n, _ in recorded().samples} >= set(sizes), 20, "samples of every size"
        )
        measured = recorded()
    finally:
        client.close()
    assert measured.children == 1
    cost = fit(measured.samples)
    assert cost is not None
    # A forest pays a fixed cost per tree per call: 95% of its rate needs thousands of IDs.
    assert cost.fixed > 10 * cost.per_item
    batches = plan_batches(list(range(1_000_000)), 100_000, children=2, cost=cost)
    assert 2_000 <= len(batches[0]) <= 100_000, (cost, measured.samples)
    # The executor's own planning reads the same records (no batch size given).
    with FleetExecutor(settings) as executor:
        planned = executor._plan(list(range(200_000)), None)
    assert 2_000 <= len(planned[0]) <= 50_000
    assert len(planned[0]) == len(plan_batches(list(range(200_000)), 50_000, 2, cost)[0])
