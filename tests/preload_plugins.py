"""A model that reports what its child inherited from the worker parent when it loaded."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

from worker_config.plugins.models import digits
from worker_config.settings import Settings

#: Imported by the worker parent before the fork; this module never imports it.
PRELOAD = ("tests.preloaded.by_plugin", "tests.preloaded.does_not_exist")


class _Reporting(digits.DigitsModel):
    seen: dict[str, Any]

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        return [{**out, "at_load": self.seen} for out in super().predict(inputs)]


def reporting_model(settings: Settings) -> digits.DigitsModel:
    """The digits model; its items say what this child had before it loaded anything."""
    seen = {
        "pid": os.getpid(),
        "frozen": gc.get_freeze_count(),
        "modules": sorted(
            name
            for name in ("tests.preloaded.by_plugin", "tests.preloaded.by_setting", "numpy")
            if name in sys.modules
        ),
        "sklearn_datasets": "sklearn.datasets" in sys.modules,
    }
    inner = digits.load(settings)
    model = _Reporting(inner.pipeline, inner.version)
    model.seen = seen
    return model
