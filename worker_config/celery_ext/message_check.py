"""What the worker parent and the pool read from a task message, checked before Celery sees it.

Celery trusts the headers of a task message: a ``timelimit`` of strings is accepted, handed to
the pool, and raises ``ValueError`` in the parent's event loop after the task ran, which stops
the worker; the message is then redelivered to the next worker, which dies the same way. Every
field Celery's consumer, ``Request`` (celery/worker/request.py), strategy
(celery/worker/strategy.py) or the pool reads is checked here for type and range, and the body
is decoded once (a JSON value nested past the decoder's recursion limit raises
``RecursionError``, which nothing in Celery catches). A message that fails is rejected with a
log line (transport.py), so it costs that message, never the worker.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

from celery.utils.time import maybe_iso8601, maybe_make_aware

#: Deepest nesting accepted in a message's headers and body (ours use 3 or 4 levels).
MAX_DEPTH = 64
#: Longest ID-like header (task ID, group, root, parent, origin, reply_to ...).
MAX_NAME = 1024
#: Longest ``argsrepr`` / ``kwargsrepr`` (Celery logs them).
MAX_REPR = 65536

Check = Callable[[Any], bool]


def _none_or(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _text(limit: int) -> Check:
    return lambda v: isinstance(v, str) and len(v) <= limit


def _name(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_NAME


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31


def _seconds(v: Any) -> bool:
    return (
        isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
        and 0 <= v < 10**9
    )


def _timelimit(v: Any) -> bool:
    """``[hard, soft]``: each None or a non-negative number of seconds."""
    return isinstance(v, list) and len(v) == 2 and all(x is None or _seconds(x) for x in v)


def _iso_time(v: Any) -> bool:
    """An ISO-8601 time Celery can turn into a timestamp (``maybe_iso8601``, then ``timestamp``)."""
    if not isinstance(v, str) or len(v) > 64:
        return False
    try:
        maybe_make_aware(maybe_iso8601(v)).timestamp()  # type: ignore[arg-type]
    except (ValueError, OverflowError, OSError, TypeError, AttributeError):
        return False
    return True


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and len(v) <= 1024 and all(_name(x) for x in v)


def _stamps(v: Any) -> bool:
    return isinstance(v, dict) and len(v) <= 1024 and all(_name(k) for k in v)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


#: Protocol 2 headers Celery reads in the parent or the pool, and what each must be.
HEADERS: dict[str, Check] = {
    "task": _name,
    "id": _name,
    "lang": _none_or(_text(64)),
    "shadow": _none_or(_name),
    "eta": _none_or(_iso_time),
    "expires": _none_or(_iso_time),
    "countdown": _none_or(_seconds),
    "group": _none_or(_name),
    "group_index": _none_or(_count),
    "retries": _none_or(_count),
    "timelimit": _none_or(_timelimit),
    "soft_time_limit": _none_or(_seconds),
    "time_limit": _none_or(_seconds),
    "root_id": _none_or(_name),
    "parent_id": _none_or(_name),
    "argsrepr": _none_or(_text(MAX_REPR)),
    "kwargsrepr": _none_or(_text(MAX_REPR)),
    "origin": _none_or(_text(MAX_NAME)),
    "ignore_result": _none_or(_bool),
    "replaced_task_nesting": _none_or(_count),
    "redelivered": _none_or(_bool),
    "stamped_headers": _none_or(_str_list),
    "stamps": _none_or(_stamps),
    "reply_to": _none_or(_text(MAX_NAME)),
    "correlation_id": _none_or(_text(MAX_NAME)),
}

#: Message properties Celery or kombu read, and what each must be.
PROPERTIES: dict[str, Check] = {
    "priority": _none_or(lambda v: _count(v) and v <= 255),
    "reply_to": _none_or(_text(MAX_NAME)),
    "correlation_id": _none_or(_text(MAX_NAME)),
    "delivery_mode": _none_or(_count),
    "delivery_info": lambda v: isinstance(v, dict) and _delivery_info(v),
}


def _delivery_info(info: dict[str, Any]) -> bool:
    return (
        all(isinstance(info.get(k), str) for k in ("exchange", "routing_key"))
        and isinstance(info.get("redelivered", False), bool)
        and _none_or(lambda v: _count(v) and v <= 255)(info.get("priority"))
    )


def depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests lists and objects (counted without recursion, to ``limit``+1)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if deepest > limit:
                return deepest
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def task_message_problem(envelope: dict[str, Any]) -> str | None:
    """Why a task message must not reach Celery, or None if every field it reads is sane.

    ``envelope`` has already passed transport.py's shape check (a dict with ``properties``).
    """
    headers = envelope.get("headers")
    if not isinstance(headers, dict) or not isinstance(headers.get("task"), str):
        return "no 'task' header: only Celery task protocol 2 is accepted"
    if depth(headers) > MAX_DEPTH:
        return f"headers nested deeper than {MAX_DEPTH} levels"
    for field, check in HEADERS.items():
        if field in headers and not check(headers[field]):
            return f"header {field!r} has an invalid value of type {type(headers[field]).__name__}"
    if headers.get("id") is None:
        return "no 'id' header"
    props = envelope["properties"]
    for field, check in PROPERTIES.items():
        if field in props and not check(props[field]):
            return f"property {field!r} has an invalid value of type {type(props[field]).__name__}"
    return _body_problem(envelope)


def _body_problem(envelope: dict[str, Any]) -> str | None:
    """A JSON body must decode to ``[args, kwargs, embed]``, as Celery unpacks it in the parent."""
    if envelope.get("content-type") != "application/json":
        return None  # Celery refuses other content types itself, without decoding them
    if envelope.get("content-encoding") not in (None, "utf-8"):
        return f"body encoding {envelope.get('content-encoding')!r} is not utf-8"
    body = envelope.get("body") or ""
    try:
        if envelope["properties"].get("body_encoding") == "base64":
            body = base64.b64decode(body, validate=True)
        decoded = json.loads(body)
    except (ValueError, TypeError, RecursionError) as exc:
        return f"the body is not UTF-8 JSON nested at most {MAX_DEPTH} deep ({type(exc).__name__})"
    if depth(decoded) > MAX_DEPTH or not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and isinstance(decoded[0], list)
        and isinstance(decoded[1], dict)
        and (decoded[2] is None or isinstance(decoded[2], dict))
    ):
        return f"the body is not [args, kwargs, options] nested at most {MAX_DEPTH} deep"
    return None
