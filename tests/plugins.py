"""Model plug-ins that misbehave on purpose, loaded by real workers in the integration tests."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from worker_config.plugins.models import digits
from worker_config.settings import Settings


def failing_model(settings: Settings) -> digits.DigitsModel:
    """A model whose weights are missing."""
    raise FileNotFoundError("weights file /nonexistent/model.bin is missing")


def slow_model(settings: Settings) -> digits.DigitsModel:
    """The digits model after a load longer than Celery's 4 s child start-up timeout."""
    time.sleep(float(os.environ.get("TEST_SLOW_LOAD_SECONDS", "6")))
    return digits.load(settings)


class _ThreadReportingModel(digits.DigitsModel):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        from threadpoolctl import threadpool_info

        threads = max((pool["num_threads"] for pool in threadpool_info()), default=1)
        return [{**out, "blas_threads": threads} for out in super().predict(inputs)]


def thread_reporting_model(settings: Settings) -> digits.DigitsModel:
    """The digits model, reporting how many BLAS/OpenMP threads its child runs."""
    model = digits.load(settings)
    return _ThreadReportingModel(model.pipeline, model.version)


class RenamedDigits:
    """The digits model under another name, tagging its outputs, optionally slower per item.

    ``paced`` costs a fixed wall time per item whatever else the machine runs, so the cluster
    tests can tell one worker host from two on a busy 2-core machine.
    """

    def __init__(self, settings: Settings, name: str, seconds_per_item: float = 0.0) -> None:
        self.inner = digits.load(settings)
        self.name = name
        self.version = self.inner.version
        self.seconds_per_item = seconds_per_item

    def prepare(self, raw: Any) -> Any:
        return self.inner.prepare(raw)

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        time.sleep(self.seconds_per_item * len(inputs))
        return [{**out, "model": self.name} for out in self.inner.predict(inputs)]


def twin_model(settings: Settings) -> RenamedDigits:
    """A second model for the per-model queue tests."""
    return RenamedDigits(settings, "twin")


def paced_model(settings: Settings) -> RenamedDigits:
    """Digits at ``TEST_ITEM_SECONDS`` (default 0.01) of wall time per item."""
    return RenamedDigits(settings, "paced", float(os.environ.get("TEST_ITEM_SECONDS", "0.01")))


def centroids_model(settings: Settings) -> RenamedDigits:
    """A plug-in that declares its model's name on its factory, as the README shows."""
    return RenamedDigits(settings, "centroids")


centroids_model.name = "centroids"  # type: ignore[attr-defined]
