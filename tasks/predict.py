"""The public tasks: ``modelfleet.predict`` and ``modelfleet.predict_batch``."""

from __future__ import annotations

from tasks.celery import app
from worker_config import child
from worker_config.contract import PREDICT, PREDICT_BATCH, ResultItem
from worker_config.settings import get_settings


@app.task(name=PREDICT)
def predict(input_id: object) -> ResultItem:
    """Predict one ID; a bad ID gives an error item, not a failed task."""
    return child.current(get_settings()).predict_one(input_id)


@app.task(name=PREDICT_BATCH)
def predict_batch(ids: object) -> list[ResultItem]:
    """Predict a list of IDs in one vectorised call; items come back in the order of the IDs."""
    return child.current(get_settings()).predict_batch(ids)
