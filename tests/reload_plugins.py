"""A ``dense`` model that says which child ran each input and when, for the reload tests."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from worker_config.plugins.models import dense
from worker_config.settings import Settings


class TracedDense(dense.DenseModel):
    """The dense model, slowed a little, with the child's PID and a clock in every output."""

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        time.sleep(0.01)  # so that a run of a few hundred tasks spans a reload
        stamp = time.monotonic()
        return [{**out, "pid": os.getpid(), "at": stamp} for out in super().predict(inputs)]


def traced_dense(settings: Settings) -> TracedDense:
    model = dense.load(settings)
    return TracedDense(weights=model.weights, version=model.version)
