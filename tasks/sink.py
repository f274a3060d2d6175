"""``modelfleet.predict_to_sink``: predict a batch and write it as one Parquet part.

The result backend keeps only the part's receipt, so Redis memory per task is constant however
large the outputs (a MiniLM embedding is ~8 KB of JSON per item).
"""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.celery import app
from worker_config import routing
from worker_config.contract import PREDICT_TO_SINK
from worker_config.runtime import child, deliveries
from worker_config.settings import get_settings
from worker_config.sinks import parts


@app.task(name=PREDICT_TO_SINK, bind=True, **deliveries.RETRY_OPTIONS)
def predict_to_sink(  # noqa: PLR0917  # positional: the wire contract sends args
    self: Task[Any, Any],
    ids: object,
    sink: str,
    job_id: str,
    id_type: parts.IdType = "int64",
    model: str | None = None,
) -> dict[str, Any]:
    """Predict ``ids`` and write ``part-<job_id>-<task id>.parquet`` under ``sink``."""
    settings = get_settings()
    name = routing.model_for_task(settings, model, self.request.delivery_info)
    predictor = child.current(settings, name)
    items = deliveries.guarded(settings, self.request, ids, predictor.predict_batch)
    return parts.write_part(sink, job_id, str(self.request.id), items, id_type)
