"""Model plug-ins for the micro-batching tests: they report how many inputs each call got."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

from worker_config.plugins.models import digits
from worker_config.settings import Settings


class _BatchReportingModel(digits.DigitsModel):
    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        # A slow call lets single-ID tasks queue up behind the one being answered.
        time.sleep(float(os.environ.get("TEST_CALL_SECONDS", "0.05")))
        return [{**out, "batch": len(inputs)} for out in super().predict(inputs)]


def batch_reporting_model(settings: Settings) -> digits.DigitsModel:
    """The digits model; each output says how many inputs its model call predicted at once."""
    model = digits.load(settings)
    return _BatchReportingModel(model.pipeline, model.version)
