"""A ``dense`` model whose load hangs when its path names ``hang``: a reload stuck on I/O."""

from __future__ import annotations

import time
from typing import Any

from worker_config.plugins.models import dense
from worker_config.settings import Settings


def hanging_dense(settings: Settings) -> Any:
    if settings.model_path is not None and "hang" in settings.model_path.name:
        time.sleep(3600)
    return dense.load(settings)
