"""Enqueue IDs to a modelfleet and print the results, with nothing but ``celery[redis]`` installed.

    pip install 'celery[redis]'
    export CELERY_BROKER_URL=redis://host:6379/0 CELERY_RESULT_BACKEND=redis://host:6379/1
    python python_client.py 0 1 2 17

Prints one JSON result item per ID, in input order. Exits 1 if any item is an error.
"""

from __future__ import annotations

import json
import os
import sys

from celery import Celery

#: The public contract: the task name and the queue the workers listen on.
PREDICT_BATCH = "modelfleet.predict_batch"
QUEUE = os.environ.get("MODELFLEET_QUEUE", "modelfleet")


def parse_id(token: str) -> int | str:
    """IDs are JSON integers or strings; a decimal token is sent as an integer."""
    return int(token) if token.lstrip("-").isdigit() else token


def main(argv: list[str]) -> int:
    app = Celery(
        "my-app",
        broker=os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/1"),
    )
    # The workers accept JSON only.
    app.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    ids = [parse_id(token) for token in argv] or [0, 1, 2]
    result = app.send_task(PREDICT_BATCH, args=[ids], queue=QUEUE)
    print(f"task {result.id}", file=sys.stderr)
    items = result.get(timeout=float(os.environ.get("TIMEOUT", "60")))
    for item in items:
        print(json.dumps(item))
    return 1 if any("error" in item for item in items) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
