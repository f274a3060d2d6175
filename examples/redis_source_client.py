"""Another app stores its own inputs in Redis, enqueues their IDs, and reads the predictions.

The workers run with ``MODELFLEET_SOURCE=redis``: they read each input as JSON from
``<MODELFLEET_INPUT_PREFIX><id>`` (default ``modelfleet:input:``). Needs only ``celery[redis]``.

    export CELERY_BROKER_URL=redis://host:6379/0 CELERY_RESULT_BACKEND=redis://host:6379/1
    python redis_source_client.py < inputs.jsonl

Each input line is ``{"id": "scan-17", "input": [64 numbers for the digits model]}``; each
output line is a result item, in input order.
"""

from __future__ import annotations

import json
import os
import sys

import redis
from celery import Celery

PREDICT_BATCH = "modelfleet.predict_batch"
QUEUE = os.environ.get("MODELFLEET_QUEUE", "modelfleet")
PREFIX = os.environ.get("MODELFLEET_INPUT_PREFIX", "modelfleet:input:")
#: Inputs should outlive the task that reads them; keep them as long as results (1 day).
INPUT_TTL = 86_400


def main() -> int:
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    # The workers read inputs from MODELFLEET_SOURCE_URL, which defaults to the broker.
    inputs = redis.Redis.from_url(os.environ.get("MODELFLEET_SOURCE_URL", broker))
    records = [json.loads(line) for line in sys.stdin if line.strip()]
    with inputs.pipeline() as pipe:
        for record in records:
            pipe.set(f"{PREFIX}{record['id']}", json.dumps(record["input"]), ex=INPUT_TTL)
        pipe.execute()

    app = Celery(
        "my-app",
        broker=broker,
        backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1"),
    )
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    ids = [record["id"] for record in records] + sys.argv[1:]  # extra IDs: inputs stored earlier
    items = app.send_task(PREDICT_BATCH, args=[ids], queue=QUEUE).get(timeout=60)
    for item in items:
        print(json.dumps(item))
    return 1 if any("error" in item for item in items) else 0


if __name__ == "__main__":
    sys.exit(main())
