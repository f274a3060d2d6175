"""The public tasks: ``modelfleet.predict`` and ``modelfleet.predict_batch``."""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.celery import app
from worker_config import routing
from worker_config.contract import PREDICT, PREDICT_BATCH, ResultItem
from worker_config.runtime import child, deliveries, microbatch
from worker_config.runtime.inference import Predictor
from worker_config.settings import get_settings


@app.task(name=PREDICT, bind=True, **deliveries.RETRY_OPTIONS)
def predict(self: Task[Any, Any], input_id: object, model: str | None = None) -> ResultItem:
    """Predict one ID; a bad ID gives an error item, not a failed task."""
    predictor, settings = _predictor(self, model), get_settings()

    def run(ids: list[Any]) -> list[ResultItem]:
        if settings.microbatch_max > 1:  # answer queued single-ID tasks in the same model call
            queue = (self.request.delivery_info or {}).get("routing_key") or settings.queue
            batcher = microbatch.for_this_child(settings, app.backend)
            return [batcher.predict(predictor, ids[0], queue, self.request.kwargs)]
        return [predictor.predict_one(ids[0])]

    # Counts deliveries; after a death the ID runs alone, so only it can be dead-lettered.
    alone = lambda ids: [predictor.predict_one(ids[0])]  # noqa: E731
    return deliveries.guarded(settings, self.request, [input_id], run, alone)[0]


@app.task(name=PREDICT_BATCH, bind=True, **deliveries.RETRY_OPTIONS)
def predict_batch(self: Task[Any, Any], ids: object, model: str | None = None) -> list[ResultItem]:
    """Predict a list of IDs in one vectorised call; items come back in the order of the IDs."""
    # Counts deliveries: an input that kills its child is dead-lettered, not run forever.
    return deliveries.guarded(
        get_settings(), self.request, ids, _predictor(self, model).predict_batch
    )


def _predictor(task: Task[Any, Any], model: str | None) -> Predictor:
    """The loaded model this task asked for: its ``model`` kwarg, else the queue it came on."""
    settings = get_settings()
    name = routing.model_for_task(settings, model, task.request.delivery_info)
    return child.current(settings, name)
