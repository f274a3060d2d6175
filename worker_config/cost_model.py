"""Batch size from a fitted cost curve: time(n) = a + b*n over the fleet's measured batches, and
the smallest n that gets within a few percent of the fitted asymptotic throughput 1/b.

Why a fit and not an average cost per item: a forest pays a fixed cost per tree per call, so its
cost per item falls ~10x between 64 and 5,000 IDs; an average taken at one size says nothing
about the others (issue 12). Producers size ``map`` batches with it (``producer/batching.py``),
children their micro-batches (``runtime/microbatch.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Seconds a task costs beyond the model call the children time (Celery in the worker parent
#: and child, Redis, the producer); measured with ``make bench`` and rounded up. Added to the
#: fitted intercept: it is a fixed cost per task too.
TASK_OVERHEAD = 0.002
#: Share of the asymptotic throughput the chosen batch size reaches (issue 12: 95%).
TARGET_SHARE = 0.95
#: Only samples within this factor of the largest measured batch are fitted (when they hold two
#: sizes or more): the line is then the curve's tangent at large n, which is what the
#: asymptote and the 95% size depend on; a sublinear curve (a forest's cost per item falls with
#: n) fitted over all sizes would get too small an intercept and too small batches.
UPPER_RANGE = 16
#: When the samples show no growth of time with n, the next size tried is this many times the
#: largest measured: the fit learns the curve over a few jobs instead of guessing beyond it.
GROWTH = 4


@dataclass(frozen=True)
class CostFit:
    """time(n) = ``fixed`` + ``per_item`` * n seconds, for one task of n IDs."""

    fixed: float
    per_item: float

    def seconds(self, n: int) -> float:
        return self.fixed + self.per_item * n

    def share_of_asymptote(self, n: int) -> float:
        """Throughput at n as a share of 1/per_item, the throughput of an endless batch."""
        return self.per_item * n / self.seconds(n)

    def size_for_share(self, share: float = TARGET_SHARE) -> int:
        """The smallest n whose throughput is at least ``share`` of the asymptote."""
        return max(1, math.ceil(share / (1 - share) * self.fixed / self.per_item))

    def largest_within(self, seconds: float) -> int:
        """The largest n that takes at most ``seconds`` (at least 1)."""
        return max(1, math.floor((seconds - self.fixed) / self.per_item))


def fit(samples: Sequence[tuple[int, float]], overhead: float = TASK_OVERHEAD) -> CostFit | None:
    """Least squares of time(n) = a + b*n over ``(n, seconds)`` samples, in relative error,
    over the upper sizes (:data:`UPPER_RANGE`).

    Weights 1/seconds^2, so a 10 ms batch counts as much as a 1 s one (an absolute fit would
    let the largest batches decide the intercept alone). ``a`` is kept >= 0 and ``b`` > 0; a
    curve that does not grow with n (one size measured, or a cost all per call) gets a ``b``
    that points :data:`GROWTH` times beyond the largest size seen. ``overhead`` is added to
    ``a``. None without samples.
    """
    points = [(float(n), s) for n, s in samples if n > 0 and s > 0]
    if not points:
        return None
    top = max(n for n, _ in points)
    upper = [(n, s) for n, s in points if n * UPPER_RANGE >= top]
    if len({n for n, _ in upper}) >= 2:
        points = upper
    weights = [1 / (s * s) for _, s in points]
    sw = sum(weights)
    mean_n = sum(w * n for w, (n, _) in zip(weights, points, strict=True)) / sw
    mean_s = sum(w * s for w, (_, s) in zip(weights, points, strict=True)) / sw
    var_n = sum(w * (n - mean_n) ** 2 for w, (n, _) in zip(weights, points, strict=True))
    cov = sum(w * (n - mean_n) * (s - mean_s) for w, (n, s) in zip(weights, points, strict=True))
    b = cov / var_n if var_n > 0 else 0.0
    a = mean_s - b * mean_n
    if b <= 0:  # one batch size, or no growth with n: try larger batches, 4x the largest
        a = mean_s
        b = TARGET_SHARE / (1 - TARGET_SHARE) * (a + overhead) / (GROWTH * top)
    elif a < 0:  # through the origin instead: b = sum(w n s) / sum(w n^2)
        a = 0.0
        b = sum(w * n * s for w, (n, s) in zip(weights, points, strict=True)) / sum(
            w * n * n for w, (n, _) in zip(weights, points, strict=True)
        )
    return CostFit(a + overhead, b)
