"""The public tasks: ``modelfleet.predict`` and ``modelfleet.predict_batch``."""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.celery import app
from worker_config import child, routing
from worker_config.contract import PREDICT, PREDICT_BATCH, ResultItem
from worker_config.inference import Predictor
from worker_config.settings import get_settings


@app.task(name=PREDICT, bind=True)
def predict(self: Task[Any, Any], input_id: object, model: str | None = None) -> ResultItem:
    """Predict one ID; a bad ID gives an error item, not a failed task."""
    return _predictor(self, model).predict_one(input_id)


@app.task(name=PREDICT_BATCH, bind=True)
def predict_batch(self: Task[Any, Any], ids: object, model: str | None = None) -> list[ResultItem]:
    """Predict a list of IDs in one vectorised call; items come back in the order of the IDs."""
    return _predictor(self, model).predict_batch(ids)


def _predictor(task: Task[Any, Any], model: str | None) -> Predictor:
    """The loaded model this task asked for: its ``model`` kwarg, else the queue it came on."""
    settings = get_settings()
    name = routing.model_for_task(settings, model, task.request.delivery_info)
    return child.current(settings, name)
