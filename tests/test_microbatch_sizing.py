"""A child sizes its micro-batches from its own timed model calls (``runtime/microbatch.py``)."""

from __future__ import annotations

from worker_config.runtime.microbatch import FIRST_SIZE, MAX_BATCH_SECONDS, batch_size


def curve(fixed: float, per_item: float, sizes: list[int]) -> list[tuple[int, float]]:
    return [(n, fixed + per_item * n) for n in sizes]


def test_before_any_timed_call_a_child_takes_the_first_size_or_the_cap_if_lower() -> None:
    assert batch_size([], cap=1024) == FIRST_SIZE
    assert batch_size([], cap=8) == 8


def test_a_model_paying_per_call_gets_the_cap() -> None:
    # A 200-tree forest: ~10 ms per call whatever the size, ~10 us per row.
    forest = curve(0.010, 10e-6, [64, 128, 256, 512])
    assert batch_size(forest, cap=1024) == 1024
    assert batch_size(forest, cap=300) == 300


def test_a_model_costing_the_same_per_item_gets_small_batches() -> None:
    # 5 ms per text, no cost per call: batching gains nothing past the task's own overhead.
    text = curve(0.0, 0.005, [8, 16, 32, 64])
    size = batch_size(text, cap=1024)
    assert size < FIRST_SIZE
    assert size * 0.005 <= MAX_BATCH_SECONDS


def test_no_micro_batch_is_sized_past_its_seconds_bound() -> None:
    # 200 ms per call and 1 ms per item: 95% of the asymptote needs ~3,800 items, ~4 s.
    slow = curve(0.200, 0.001, [64, 128, 256])
    size = batch_size(slow, cap=10_000)
    assert 0.200 + 0.001 * size <= MAX_BATCH_SECONDS + 0.003  # the fit adds the task overhead
    assert size > 100


def test_samples_of_one_size_that_do_not_grow_let_the_batch_grow_past_them() -> None:
    flat = [(64, 0.05), (64, 0.051), (64, 0.049)]
    assert batch_size(flat, cap=1024) > 64
