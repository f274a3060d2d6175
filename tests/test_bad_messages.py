"""Hostile messages pushed straight onto the Redis queue, as an attacker or a buggy client would.

Hypothesis generates raw entries (non-UTF-8 bytes, text that is not JSON, JSON that is not an
envelope), envelopes with a pickle or unknown content type, and well-formed envelopes whose
task name, arguments and IDs are junk (nested values, long strings, huge batches). The worker
must stay up, give each task it can identify an error result, and still serve a valid task.
"""

from __future__ import annotations

import base64
import json
import pickle
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery, states
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.local.embedded_redis import RedisServer
from producer.local.worker import LocalWorker, start_worker
from tests.conftest import REPO, settings_for
from worker_config.celery_ext.message_check import HEADERS, PROPERTIES
from worker_config.contract import PREDICT, PREDICT_BATCH
from worker_config.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

#: Whole-task failures a junk call may get: wrong argument count or type, a bad batch, or a
#: second argument taken as a model name this worker does not serve.
CLEAR_FAILURES = ("TypeError", "InvalidBatch", "ModelNotServed")
#: Messages tried, by kind; printed at the end for the closing note.
TRIED: dict[str, int] = {}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=30,
)


class Big:
    """A very long string or a huge batch, expanded only when sent (a short repr for reports)."""

    def __init__(self, kind: str, size: int) -> None:
        self.kind, self.size = kind, size

    def __repr__(self) -> str:
        return f"Big({self.kind!r}, {self.size})"

    def expand(self) -> object:
        return "x" * self.size if self.kind == "string" else list(range(self.size))


long_strings = st.integers(300, 200_000).map(lambda n: Big("string", n))
huge_batches = st.integers(1_001, 50_000).map(lambda n: Big("batch", n))
arguments = st.one_of(
    st.lists(json_values, max_size=4),  # wrong counts and types
    st.tuples(json_values).map(list),
    st.tuples(long_strings).map(list),
    st.tuples(huge_batches).map(list),
    st.tuples(st.lists(json_values | long_strings, min_size=1, max_size=20)).map(list),
)
task_names = st.sampled_from([PREDICT, PREDICT_BATCH]) | st.text(min_size=1, max_size=60)

#: Every header and property the worker parent or the pool reads (message_check.py lists them).
READ_HEADERS = sorted(HEADERS)
READ_PROPERTIES = sorted(PROPERTIES)
#: Values of every JSON type, wrong for most fields: numbers out of range, NaN, strings where
#: numbers go (``timelimit: ["1", "2"]``), lists of the wrong length, nested objects.
junk_values = st.one_of(
    json_values,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([float("nan"), float("inf"), -1.5, 1e300, "1", "", "x" * 2000]),
    st.lists(st.text(max_size=5) | st.integers() | st.none(), min_size=0, max_size=4),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)
#: Nesting depths around and far past any decoder's limit.
depths = st.sampled_from([65, 500, 990, 1_100, 5_000, 100_000])


def nested(depth: int, opener: str = "[") -> str:
    """JSON text nested ``depth`` levels deep: ``[[[...]]]`` or ``{"a":{"a":...}}``."""
    if opener == "[":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@st.composite
def bad_header_messages(draw: st.DrawFn, queue: str) -> tuple[str, bytes]:
    """One well-formed message for a real task with one header or property made hostile.

    Returns the kind (for the counts) and the raw entry.
    """
    task_id = str(uuid.uuid4())
    body = json.dumps([[draw(st.integers(0, 1796))], {}, {}]).encode()
    headers = task_headers(draw(st.sampled_from([PREDICT, PREDICT_BATCH])), task_id)
    if headers["task"] == PREDICT_BATCH:
        body = json.dumps([[[1, 2]], {}, {}]).encode()
    raw = json.loads(envelope(queue, body, "application/json", headers))
    where = draw(st.sampled_from(["header", "property", "delivery_info", "deep"]))
    if where == "header":
        field = draw(st.sampled_from(READ_HEADERS))
        raw["headers"][field] = draw(junk_values)
        return f"header {field}", json.dumps(raw).encode()
    if where == "property":
        field = draw(st.sampled_from(READ_PROPERTIES))
        raw["properties"][field] = draw(junk_values)
        return f"property {field}", json.dumps(raw).encode()
    if where == "delivery_info":
        field = draw(st.sampled_from(["exchange", "routing_key", "redelivered", "priority"]))
        raw["properties"]["delivery_info"][field] = draw(junk_values)
        return f"delivery_info {field}", json.dumps(raw).encode()
    depth, opener = draw(depths), draw(st.sampled_from(["[", "{"]))
    spot = draw(st.sampled_from(["entry", "header", "body"]))
    text = nested(depth, opener)
    if spot == "entry":
        return "nested entry", text.encode()
    if spot == "body":
        raw["body"] = base64.b64encode(f"[[{text}], {{}}, {{}}]".encode()).decode()
        return "nested body", json.dumps(raw).encode()
    entry = json.dumps(raw).replace('"lang": "py"', f'"lang": {text}')
    return "nested header", entry.encode()


def envelope(queue: str, body: bytes, content_type: str, headers: dict[str, object]) -> bytes:
    """A kombu Redis envelope, as a client library writes it."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": content_type,
            "headers": headers,
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "delivery_mode": 2,
                "delivery_info": {"exchange": queue, "routing_key": queue},
                "priority": 0,
            },
        }
    ).encode()


def task_headers(task: str, task_id: str) -> dict[str, object]:
    return {"lang": "py", "task": task, "id": task_id, "root_id": task_id, "argsrepr": "..."}


@pytest.fixture(scope="module")
def hostile_fleet(
    redis_server: RedisServer, model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, LocalWorker]]:
    """One worker for every generated example (starting one per example would take minutes)."""
    import os

    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
    env.update(
        CELERY_BROKER_URL=redis_server.url(0),
        CELERY_RESULT_BACKEND=redis_server.url(1),
        MODELFLEET_QUEUE=f"hostile-{tag}",
        MODELFLEET_KEY_PREFIX=f"hostile-{tag}:",
        MODELFLEET_CACHE_DIR=str(model_cache),
        PYTHONPATH=str(REPO),
    )
    fleet_settings = settings_for(env)
    worker = start_worker(env, tmp_path_factory.mktemp("hostile") / "worker.log", concurrency=2)
    worker.wait_ready(fleet_settings, 2, timeout=90)
    yield fleet_settings, worker
    worker.stop(timeout=20)
    print(f"bad messages tried: {sum(TRIED.values())} {json.dumps(TRIED, sort_keys=True)}")


def _count(kind: str) -> None:
    TRIED[kind] = TRIED.get(kind, 0) + 1


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    raw=st.lists(st.binary(max_size=64) | st.text(max_size=64).map(str.encode), max_size=3),
    odd_json=st.lists(json_values.map(lambda v: json.dumps(v).encode()), max_size=3),
    calls=st.lists(st.tuples(task_names, arguments), min_size=1, max_size=4),
    pickled=st.booleans(),
    bad_headers=st.lists(bad_header_messages("{queue}"), max_size=3),
)
def test_hostile_queue_entries_are_refused_and_the_worker_keeps_serving(
    hostile_fleet: tuple[Settings, LocalWorker],
    *,
    raw: list[bytes],
    odd_json: list[bytes],
    calls: list[tuple[str, list[object]]],
    pickled: bool,
    bad_headers: list[tuple[str, bytes]],
) -> None:
    fleet, worker = hostile_fleet
    client = redis.Redis.from_url(fleet.broker_url)
    queue = fleet.queue
    for kind, entry in bad_headers:
        client.lpush(queue, entry.replace(b"{queue}", queue.encode()))
        _count(kind)
    for entry in raw:
        client.lpush(queue, entry)
        _count("raw bytes or text")
    for entry in odd_json:
        client.lpush(queue, entry)
        _count("JSON that is not an envelope")
    if pickled:
        body = pickle.dumps(((1,), {}, {}))
        client.lpush(
            queue,
            envelope(
                queue,
                body,
                "application/x-python-serialize",
                task_headers(PREDICT, str(uuid.uuid4())),
            ),
        )
        _count("pickle content type")
    task_ids = []
    for name, args in calls:
        task_id = str(uuid.uuid4())
        body = json.dumps(
            [args, {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}],
            default=lambda big: big.expand(),
        )
        client.lpush(
            queue, envelope(queue, body.encode(), "application/json", task_headers(name, task_id))
        )
        task_ids.append((name, task_id))
        _count("well-formed envelope, junk task or arguments")
    client.close()

    app = Celery("hostile-client", broker=fleet.broker_url, backend=fleet.result_backend)
    try:
        valid = app.send_task(PREDICT, args=[5], queue=queue).get(timeout=60)
        assert valid["output"]["label"] == 5
        for name, task_id in task_ids:
            result = app.AsyncResult(task_id)
            deadline = time.monotonic() + 60
            while result.state not in states.READY_STATES and time.monotonic() < deadline:
                time.sleep(0.05)
            state = result.state
            if name in (PREDICT, PREDICT_BATCH):
                # Known tasks run: error items, or a failure that names what was wrong.
                assert state in states.READY_STATES, (name, state)
                if state == states.FAILURE:
                    assert type(result.result).__name__ in CLEAR_FAILURES, result.result
    finally:
        app.close()
    assert worker.process.poll() is None, worker.log()[-3000:]
