"""10,000 generated hostile messages against one worker: it stays up and keeps serving.

The fast suite's generated test (tests/test_bad_messages.py) sends a few dozen examples; this
one sends at least 10,000 single messages (every header and property the worker reads made
hostile, JSON nested past the decoder's limit in the entry, a header and the body, junk task
calls, raw bytes), checking after each that the worker process lives, every 500 that it still
answers a valid task, and at the end that the queue drained.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
from celery import Celery
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producer.local.worker import LocalWorker
from tests.test_bad_messages import (
    TRIED,
    _count,
    bad_header_messages,
    envelope,
    hostile_fleet,
    json_values,
    task_headers,
    task_names,
)
from worker_config.contract import PREDICT
from worker_config.settings import Settings

__all__ = ["hostile_fleet"]  # the module-scoped worker fixture, shared with the fast test

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

EXAMPLES = 10_000
#: A valid task goes through after this many hostile messages.
PROBE_EVERY = 500


def _junk_call(queue: str) -> st.SearchStrategy[tuple[str, bytes]]:
    def build(call: tuple[str, list[object]]) -> tuple[str, bytes]:
        name, args = call
        body = json.dumps([args, {}, {}]).encode()
        headers = task_headers(name, f"junk-{time.monotonic_ns()}")
        return "junk task call", envelope(queue, body, "application/json", headers)

    # Small junk arguments: the fast test covers huge ones; here the count matters.
    return st.tuples(task_names, st.lists(json_values, max_size=3)).map(build)


def _messages(queue: str) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.one_of(
        bad_header_messages(queue),
        bad_header_messages(queue),
        bad_header_messages(queue),
        _junk_call(queue),
        st.binary(max_size=64).map(lambda b: ("raw bytes", b)),
    )


def test_ten_thousand_hostile_messages_neither_stop_nor_stall_the_worker(
    hostile_fleet: tuple[Settings, LocalWorker],
) -> None:
    fleet, worker = hostile_fleet
    client = redis.Redis.from_url(fleet.broker_url)
    app = Celery("hostile-client", broker=fleet.broker_url, backend=fleet.result_backend)
    sent = [0]

    def serves() -> None:
        result = app.send_task(PREDICT, args=[7], queue=fleet.queue).get(timeout=120)
        assert result["output"]["label"] == 7, result

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(message=_messages(fleet.queue))
    def one(message: tuple[str, bytes]) -> None:
        kind, entry = message
        client.lpush(fleet.queue, entry)
        _count(kind)
        sent[0] += 1
        assert worker.process.poll() is None, worker.log()[-3000:]
        if sent[0] % PROBE_EVERY == 0:
            serves()

    try:
        one()
        serves()
        deadline = time.monotonic() + 300
        while client.llen(fleet.queue) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.llen(fleet.queue) == 0, "the worker stopped taking messages"
        assert worker.process.poll() is None, worker.log()[-3000:]
    finally:
        client.close()
        app.close()
    print(f"hostile messages sent: {sent[0]} {json.dumps(TRIED, sort_keys=True)}")
    assert sent[0] >= EXAMPLES
