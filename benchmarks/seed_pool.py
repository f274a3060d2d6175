"""The seed article's pattern, as it writes it: a module-level model cache, loaded lazily by
each ``ProcessPoolExecutor`` process on its first task, reused by every later task.
"""

from __future__ import annotations

import os
from typing import Any

from worker_config.plugins import resolve_model, resolve_source
from worker_config.runtime.inference import Predictor
from worker_config.settings import Settings

#: 【关键】 the per-process model, None until the first task in this process loads it.
_model_cache: Predictor | None = None


def load_ml_model() -> Predictor:
    """Load the model once per process (only on the first call in this process)."""
    global _model_cache
    if _model_cache is None:
        from threadpoolctl import threadpool_limits

        settings = Settings(
            model=os.environ["BENCH_MODEL"],
            cache_dir=os.environ["MODELFLEET_CACHE_DIR"],
            mlp_mb=float(os.environ.get("MODELFLEET_MLP_MB", "64")),
        )
        model = resolve_model(settings.model)(settings)
        source = resolve_source("digits")(settings)
        threadpool_limits(limits=1)  # one BLAS thread per process, like the workers
        _model_cache = Predictor(model, source, 100_000)
    return _model_cache


def inference_task(input_id: int) -> dict[str, Any]:
    """One ID per call, as the article's ``inference_task``."""
    return load_ml_model().predict_one(input_id)


def inference_batch(ids: list[int]) -> list[dict[str, Any]]:
    """A batch of IDs per call: the article's pattern with the vectorised model."""
    return load_ml_model().predict_batch(ids)
