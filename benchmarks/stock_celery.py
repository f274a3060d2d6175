"""Stock Celery as a user writes it from the docs: prefork, the model loaded per child in
``worker_process_init``, one task per ID, Celery's defaults otherwise (prefetch 4, early acks,
pub/sub results). Run by the benchmark as ``celery -A benchmarks.stock_celery worker``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init

app = Celery(
    "stock",
    broker=os.environ.get("CELERY_BROKER_URL"),
    backend=os.environ.get("CELERY_RESULT_BACKEND"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue=os.environ.get("BENCH_STOCK_QUEUE", "stock"),
)

_model: Any = None


@worker_process_init.connect
def load_model(**_: Any) -> None:
    global _model
    from benchmarks import seed_pool

    _model = seed_pool.load_ml_model()


@app.task(name="stock.predict")
def predict(input_id: int) -> dict[str, Any]:
    return _model.predict_one(input_id)  # type: ignore[no-any-return]
