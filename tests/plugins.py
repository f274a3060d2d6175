"""Model plug-ins that misbehave on purpose, loaded by real workers in the integration tests."""

from __future__ import annotations

import os
import time

from worker_config.models import digits
from worker_config.settings import Settings


def failing_model(settings: Settings) -> digits.DigitsModel:
    """A model whose weights are missing."""
    raise FileNotFoundError("weights file /nonexistent/model.bin is missing")


def slow_model(settings: Settings) -> digits.DigitsModel:
    """The digits model after a load longer than Celery's 4 s child start-up timeout."""
    time.sleep(float(os.environ.get("TEST_SLOW_LOAD_SECONDS", "6")))
    return digits.load(settings)
