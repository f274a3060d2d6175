"""Automatic batch sizes: overhead a few percent, every child busy, no straggling last batch."""

from __future__ import annotations

import pytest

from producer.batching import MAX_TASK_SECONDS, TASKS_PER_CHILD, plan_batches, split_even
from worker_config.cost_model import TASK_OVERHEAD, CostFit


@pytest.mark.parametrize("per_item", [None, 2e-5, 1e-4, 1e-3, 6e-3, 0.05])
@pytest.mark.parametrize("n_ids", [7, 1797, 20_000, 100_000])
@pytest.mark.parametrize("children", [1, 2, 8])
def test_batches_keep_every_child_equally_busy_with_no_straggler(
    per_item: float | None, n_ids: int, children: int
) -> None:
    ids = list(range(n_ids))
    cost = None if per_item is None else CostFit(TASK_OVERHEAD, per_item)
    batches = plan_batches(ids, 1000, children=children, cost=cost)
    assert [x for b in batches for x in b] == ids
    sizes = {len(b) for b in batches}
    assert max(sizes) <= 1000 and max(sizes) - min(sizes) <= 1
    if n_ids >= children * TASKS_PER_CHILD:
        assert len(batches) % children == 0
    if per_item is not None:
        assert max(sizes) * per_item <= MAX_TASK_SECONDS


@pytest.mark.parametrize("per_item", [2e-5, 1e-4, 1e-3])
def test_measured_cost_keeps_per_task_overhead_within_five_percent(per_item: float) -> None:
    children, cost = 2, CostFit(TASK_OVERHEAD, per_item)
    n_ids = cost.size_for_share() * children * TASKS_PER_CHILD * 3
    batches = plan_batches(list(range(n_ids)), 100_000, children=children, cost=cost)
    assert cost.share_of_asymptote(min(len(b) for b in batches)) >= 0.95 - 1e-3


def test_few_ids_are_spread_over_every_child() -> None:
    assert len(plan_batches(list(range(40)), 1000, children=4, cost=CostFit(0.01, 1e-3))) >= 4


def test_a_given_batch_size_is_kept() -> None:
    assert [len(b) for b in plan_batches(list(range(10)), 1000, batch_size=4)] == [4, 4, 2]


def test_even_split_differs_by_at_most_one() -> None:
    assert [len(p) for p in split_even(list(range(10)), 4)] == [3, 3, 2, 2]
