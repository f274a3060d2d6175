"""One log line per task (ID, batch size, seconds, outcome), and a JSON log format to choose.

``MODELFLEET_LOG_FORMAT=json`` turns every worker log line into one JSON object, with the
task line's fields as keys, for log shippers that parse JSON (json_log.py). The handlers here are
connected by ``lifecycle.py``; importing this module connects nothing.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from worker_config.contract import PREDICT_BATCH
from worker_config.observe import metrics
from worker_config.observe.json_log import JsonFormatter
from worker_config.runtime import child
from worker_config.runtime.state import current
from worker_config.settings import get_settings

logger = logging.getLogger("modelfleet.tasks")

#: Fields of the per-task line, as ``extra`` on the record and keys in JSON.
TASK_FIELDS = ("task_id", "task", "batch_size", "seconds", "outcome", "ok", "errors")

#: Error type of items whose input killed its child too often (records/dead_letters.py).
DEAD_LETTERED = "DeadLettered"


def use_json(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is None or get_settings().log_format != "json":
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())


def task_started(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        current().task_started[task_id] = time.perf_counter()


def _batch_size(task_name: str, args: Any) -> int:
    if task_name == PREDICT_BATCH:
        ids = args[0] if args else None
        return len(ids) if isinstance(ids, list) else 0
    return 1


def item_counts(retval: Any) -> tuple[int, int, int]:
    """OK items, error items, and of those the dead-lettered ones, in a task's return value."""
    items = retval if isinstance(retval, list) else [retval]
    items = [i for i in items if isinstance(i, dict)]
    errors = [i["error"] for i in items if "error" in i]
    dead = sum(isinstance(e, dict) and e.get("type") == DEAD_LETTERED for e in errors)
    return len(items) - len(errors), len(errors), dead


def task_finished(
    task_id: str | None = None,
    task: Any = None,
    args: Any = None,
    retval: Any = None,
    state: str | None = None,
    **_: Any,
) -> None:
    started = current().task_started.pop(task_id or "", time.perf_counter())
    seconds = time.perf_counter() - started
    name = getattr(task, "name", "?")
    batch = _batch_size(name, args)
    ok, errors, dead = item_counts(retval) if state == "SUCCESS" else (0, batch, 0)
    outcome = "ok" if state == "SUCCESS" and not errors else "item-errors"
    if state != "SUCCESS":
        outcome = (state or "unknown").lower()
    logger.info(
        "task %s %s batch=%d seconds=%.4f outcome=%s ok=%d errors=%d",
        task_id,
        name,
        batch,
        seconds,
        outcome,
        ok,
        errors,
        extra={
            "task_id": task_id,
            "task": name,
            "batch_size": batch,
            "seconds": round(seconds, 6),
            "outcome": outcome,
            "ok": ok,
            "errors": errors,
        },
    )
    metrics.observe_task(
        name, state or "UNKNOWN", batch=batch, ok=ok, errors=errors, dead=dead, seconds=seconds
    )


def record_load(**_: Any) -> None:
    """``worker_process_init``, after the models loaded: how long each took, as a metric."""
    for loaded in child.loaded_models():
        model = loaded.predictor.model
        metrics.observe_load(model.name, model.version, loaded.load_seconds)
