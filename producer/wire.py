"""Task messages written straight to Redis: the protocol-2 envelope Celery and kombu write, built
from a template and pushed in one pipelined ``LPUSH`` per chunk.

``app.send_task`` costs about 170 us of Python per message (routing, signals, a ``task-sent``
event, kombu's publish path); a job of 100,000 one-ID tasks took 17.6 s to send. The envelope is
the same for every message of a job except four values (task ID, delivery tag, body, argsrepr),
so it is rendered once and filled in. Any Celery worker reads these messages, a stock one too
(tests/test_wire.py runs one); the test also compares every field with what ``send_task``
writes. What this path does not send is Celery's ``task-sent`` event: Flower learns of each
task from the worker's ``task-received`` event instead.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from celery.utils.nodenames import anon_nodename
from celery.utils.saferepr import saferepr

from worker_config import keys, wire_json
from worker_config.reprs import prefix_saferepr
from worker_config.settings import Settings

#: What Celery puts in the third element of a protocol-2 body when a task has no workflow.
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
#: Celery's default ``task_repr_maxlevels`` and the most characters of argsrepr it keeps.
REPR_MAX = 1024
#: Placeholders in the template; JSON text of the constant fields never holds a NUL.
_SLOTS = {"id": "\x00ID\x00", "tag": "\x00TAG\x00", "body": "\x00BODY\x00", "repr": "\x00REPR\x00"}


@dataclass
class Envelope:
    """The messages of one task name to one queue: everything but the per-task values fixed."""

    task: str
    queue_key: str
    routing_key: str
    reply_to: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    _parts: list[str] = field(default_factory=list)
    _order: list[str] = field(default_factory=list)
    _body_tail: str = ""

    def __post_init__(self) -> None:
        message = {
            "body": _SLOTS["body"],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": self.task,
                "id": _SLOTS["id"],
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": _SLOTS["id"],
                "parent_id": None,
                "argsrepr": _SLOTS["repr"],
                "kwargsrepr": saferepr(self.kwargs, REPR_MAX),
                "origin": anon_nodename(),
                "ignore_result": None,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": _SLOTS["id"],
                "reply_to": self.reply_to,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": self.routing_key},
                "priority": self.priority,
                "body_encoding": "base64",
                "delivery_tag": _SLOTS["tag"],
            },
        }
        # The JSON text cut at the slots: rendering is a join, not a format or a dumps.
        text = json.dumps(message)
        for name, slot in _SLOTS.items():
            text = text.replace(json.dumps(slot)[1:-1], "\x00" + name + "\x00")
        pieces = text.split("\x00")
        self._parts, self._order = pieces[0::2], pieces[1::2]
        # The body as the registered ``json`` serializer writes it (orjson, compact: wire_json.py).
        self._body_tail = "," + _text(self.kwargs) + "," + _text(EMBED) + "]"

    def render(self, task_id: str, tag: str, args: list[Any]) -> str:
        """One message: ``args`` for the task ``task_id``, as Celery would have written it."""
        first = args[0] if len(args) == 1 else None
        if type(first) is int:  # the common case, without json.dumps and repr: same text
            text = f"[{first}]"
            body, argsrepr = "[" + text + self._body_tail, text
        else:
            body = "[" + _text(args) + self._body_tail
            short = len(args) == 1 and isinstance(first, str) and len(first) < REPR_MAX // 4
            argsrepr = json.dumps(repr(args) if short else prefix_saferepr(args, REPR_MAX))[1:-1]
        values = {
            "id": task_id,
            "tag": tag,
            "body": base64.b64encode(body.encode()).decode("ascii"),
            "repr": argsrepr,
        }
        parts = self._parts
        out = [parts[0]]
        for name, part in zip(self._order, parts[1:], strict=True):
            out += (values[name], part)
        return "".join(out)


def envelope(
    settings: Settings,
    task: str,
    queue: str,
    *,
    reply_to: str,
    kwargs: dict[str, Any] | None = None,
    priority: int | None = None,
) -> Envelope:
    """The envelope of ``task`` messages to ``queue`` (priority as kombu's Redis transport)."""
    pri = priority or 0
    return Envelope(
        task=task,
        queue_key=keys.queue_for_priority(settings, queue, pri),
        routing_key=queue,
        reply_to=reply_to,
        kwargs=kwargs or {},
        priority=pri,
    )


def push(
    client: redis.Redis, env: Envelope, task_ids: Sequence[str], args: Sequence[list[Any]]
) -> None:
    """Send one message per task in one round trip, first task first out.

    ``LPUSH key m1 m2 ...`` is ``LPUSH m1`` then ``LPUSH m2``, and kombu takes from the other
    end, so workers receive the tasks in the order given.
    """
    tags = new_task_ids(len(task_ids))  # kombu's delivery tags are UUID4 strings too
    messages = [env.render(*m) for m in zip(task_ids, tags, args, strict=True)]
    if messages:
        client.lpush(env.queue_key, *messages)


def new_task_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUID strings, as Celery makes task IDs, from one read of the
    system's random source: ``str(uuid.uuid4())`` each costs several times more."""
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = bytes((b & 0x0F) | 0x40 for b in raw[6::16])  # version 4
    raw[8::16] = bytes((b & 0x3F) | 0x80 for b in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-"
        f"{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _text(value: Any) -> str:
    """``value`` as kombu's registered ``json`` serializer writes it."""
    data = wire_json.dumps(value)
    return data.decode() if isinstance(data, bytes) else data
