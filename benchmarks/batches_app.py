"""``celery-batches`` evaluated as the micro-batcher: its ``Batches`` task buffers requests in
the worker parent and hands a list to a child. Needs prefetch unlimited; acks after the batch.
Run by the benchmark as ``celery -A benchmarks.batches_app worker`` when the package is present.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from celery_batches import Batches, SimpleRequest

app = Celery(
    "batches",
    broker=os.environ.get("CELERY_BROKER_URL"),
    backend=os.environ.get("CELERY_RESULT_BACKEND"),
)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue=os.environ.get("BENCH_BATCHES_QUEUE", "batches"),
    task_acks_late=True,
    worker_prefetch_multiplier=0,  # celery-batches needs unlimited prefetch to fill a batch
)

_model: Any = None


@worker_process_init.connect
def load_model(**_: Any) -> None:
    global _model
    from benchmarks import seed_pool

    _model = seed_pool.load_ml_model()


@app.task(name="batches.predict", base=Batches, flush_every=64, flush_interval=0.002)
def predict(requests: list[SimpleRequest]) -> None:
    items = _model.predict_batch([r.args[0] for r in requests])
    for request, item in zip(requests, items, strict=True):
        app.backend.mark_as_done(request.id, item, request=request)
