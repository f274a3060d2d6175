"""Every worker log line as one JSON object (``MODELFLEET_LOG_FORMAT=json``), for log shippers.

python-json-logger does the encoding: a record's ``extra`` fields become keys (the task line's
``task_id``, ``batch_size``, ``seconds``, ...), and values JSON cannot encode are written as text.
"""

from __future__ import annotations

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

#: Record attributes every line carries, and the keys they are written under.
FIELDS = {
    "asctime": "time",
    "levelname": "level",
    "name": "logger",
    "process": "process",
    "message": "message",
}


class JsonFormatter(_JsonFormatter):
    """``{"time", "level", "logger", "process", "message", <extra fields>}`` per line.

    ``time`` is local time to the millisecond (``2024-05-01T12:00:00.123``); a logged exception
    is the ``exception`` key.
    """

    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03d"

    def __init__(self) -> None:
        super().__init__(list(FIELDS), rename_fields={**FIELDS, "exc_info": "exception"})
