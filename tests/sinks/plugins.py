"""Input sources and models for sink tests: any number of digits IDs, and a slow writer."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from worker_config.plugins.models import digits
from worker_config.plugins.models.digits import N_ROWS
from worker_config.plugins.sources.digits import DigitsSource
from worker_config.settings import Settings


class ModuloDigits(DigitsSource):
    """Digits rows for any non-negative ID: row ``id % 1797``, so a job can have millions."""

    def fetch(self, ids: Sequence[Any]) -> list[Any]:
        return [self._rows[i % N_ROWS] if isinstance(i, int) and i >= 0 else "x" for i in ids]


def modulo_digits(settings: Settings) -> ModuloDigits:
    return ModuloDigits(settings)


class _SlowDigits(digits.DigitsModel):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        time.sleep(float(os.environ.get("TEST_PREDICT_SECONDS", "0")))
        return super().predict(inputs)


def slow_digits(settings: Settings) -> digits.DigitsModel:
    """The digits model, sleeping ``TEST_PREDICT_SECONDS`` per batch (a long-running task)."""
    model = digits.load(settings)
    return _SlowDigits(model.pipeline, model.version)


def expected_labels(settings: Settings, ids: Sequence[int]) -> list[int]:
    """What the digits model predicts in this process for ``ids`` (rows ``id % 1797``)."""
    model = digits.load(settings)
    rows = ModuloDigits(settings).fetch(list(ids))
    return [out["label"] for out in model.predict([model.prepare(r) for r in rows])]


class _WideDigits(digits.DigitsModel):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        width = int(os.environ.get("TEST_VECTOR_WIDTH", "4000"))
        return [{**out, "vector": [float(out["label"])] * width} for out in super().predict(inputs)]


def wide_digits(settings: Settings) -> digits.DigitsModel:
    """The digits model with a ``vector`` of ``TEST_VECTOR_WIDTH`` floats per item: big parts."""
    model = digits.load(settings)
    return _WideDigits(model.pipeline, model.version)
