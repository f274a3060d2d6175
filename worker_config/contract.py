"""The public wire contract: task names, queue, ID rules and the shape of result items.

Other apps (any language) depend on these; change them only with a major version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeAlias, cast

from worker_config.errors import InvalidId

#: Task that predicts one ID: args ``[id]``, returns one result item.
PREDICT = "modelfleet.predict"
#: Task that predicts a list of IDs: args ``[[id, ...]]``, returns result items in the same order.
PREDICT_BATCH = "modelfleet.predict_batch"
#: Task that predicts a list of IDs and writes them as one Parquet part: args
#: ``[[id, ...], sink_url, job_id, id_type]``, returns a receipt ``{"part", "rows", "errors"}``.
PREDICT_TO_SINK = "modelfleet.predict_to_sink"

#: Remote-control command a worker answers with what it serves (``modelfleet status``).
INFO_COMMAND = "modelfleet_info"

#: Longest string ID accepted.
MAX_ID_LENGTH = 256
#: Integer IDs must fit in a signed 64-bit integer, so every language can hold them.
INT_ID_RANGE = (-(2**63), 2**63 - 1)

InputId: TypeAlias = int | str
ResultItem: TypeAlias = dict[str, Any]


def validate_id(value: object) -> InputId:
    """Return ``value`` if it is a valid ID, else raise :class:`InvalidId` saying why."""
    if isinstance(value, bool):
        raise InvalidId(f"ID {value!r} is a boolean; an ID is a JSON integer or a string")
    if isinstance(value, int):
        low, high = INT_ID_RANGE
        if not low <= value <= high:
            raise InvalidId(f"integer ID {value} is outside the signed 64-bit range")
        return value
    if isinstance(value, str):
        if len(value) > MAX_ID_LENGTH:
            raise InvalidId(
                f"string ID of {len(value)} characters is longer than {MAX_ID_LENGTH}; "
                "store long inputs under a short ID with the redis input source"
            )
        return value
    raise InvalidId(
        f"ID of type {type(value).__name__} is not allowed; an ID is a JSON integer "
        f"or a string of at most {MAX_ID_LENGTH} characters"
    )


def validate_ids(values: Iterable[object]) -> list[InputId]:
    """:func:`validate_id` of every value; a list of in-range plain ints (the common case of a
    200,000-ID ``map``) is checked in C (``min``/``max``) instead of one call per ID."""
    out = list(values)
    if out and all(type(x) is int for x in out):
        ints = cast("list[int]", out)
        low, high = INT_ID_RANGE
        if low <= min(ints) and max(ints) <= high:
            return list(ints)
    return [validate_id(x) for x in out]


def echo_id(value: object) -> object:
    """The ID to put in a result item: itself when valid, else a short description."""
    try:
        return validate_id(value)
    except InvalidId:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."


def ok_item(input_id: object, output: dict[str, Any]) -> ResultItem:
    """A successful result item."""
    return {"id": input_id, "output": output}


def error_item(input_id: object, error: BaseException | str, message: str = "") -> ResultItem:
    """A failed result item: the error's type name and message."""
    if isinstance(error, BaseException):
        kind, message = type(error).__name__, str(error)
    else:
        kind = error
    return {"id": echo_id(input_id), "error": {"type": kind, "message": message}}
