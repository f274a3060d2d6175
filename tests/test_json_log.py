"""MODELFLEET_LOG_FORMAT=json: the keys of each line, as log shippers and tests read them."""

from __future__ import annotations

import json
import logging
import re
import sys

from worker_config.observe.json_log import JsonFormatter
from worker_config.observe.task_log import TASK_FIELDS


def record(**extra: object) -> logging.LogRecord:
    entry = logging.LogRecord(
        "modelfleet.tasks", logging.INFO, __file__, 1, "task %s", ("t1",), None
    )
    entry.__dict__.update(extra)
    return entry


def test_a_task_line_carries_its_fields_as_keys() -> None:
    fields = dict(
        zip(TASK_FIELDS, ["t1", "modelfleet.predict_batch", 10, 0.01, "ok", 10, 0], strict=True)
    )
    line = json.loads(JsonFormatter().format(record(**fields)))
    assert list(line) == ["time", "level", "logger", "process", "message", *TASK_FIELDS]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", line["time"])
    assert (line["level"], line["logger"], line["message"]) == (
        "INFO",
        "modelfleet.tasks",
        "task t1",
    )
    assert {k: line[k] for k in TASK_FIELDS} == fields


def test_an_exception_is_one_key_and_odd_values_are_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info(), extra={"odd": object()}
        )
    line = json.loads(JsonFormatter().format(entry))
    assert "ValueError: boom" in line["exception"]
    assert line["odd"].startswith("<object object")
