"""One hostile input fails only itself: stored inputs and micro-batch followers, real workers.

A stored input nested deeper than the JSON decoder can follow, or not UTF-8, gets its own
``InvalidInput`` item; its neighbours in the batch are answered. A queued single-ID task whose
body cannot be decoded is taken by a micro-batching child, rejected alone, and every other
follower (another client's tasks) is answered and acknowledged at once.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import redis

from tests.conftest import WorkerFactory
from tests.test_microbatch import plain_celery_app, unacked_here
from worker_config.contract import PREDICT
from worker_config.plugins.sources.digits import DigitsSource
from worker_config.settings import Settings

#: An attacker's marker: it must never come back in an error message.
MARKER = b"\xff\xfeATTACKER-BYTES\xc3\x28"


def test_inputs_that_break_the_decoder_fail_alone_and_their_neighbours_are_served(
    worker_factory: WorkerFactory, fleet_settings: Settings, broker: redis.Redis
) -> None:
    prefix = fleet_settings.input_prefix
    rows = DigitsSource(fleet_settings).fetch([0, 1, 2])
    good = {f"good-{i}": [float(x) for x in row] for i, row in enumerate(rows)}
    for key, row in good.items():
        broker.set(f"{prefix}{key}", json.dumps(row))
    broker.set(f"{prefix}deep", "[" * 100_000 + "]" * 100_000)
    broker.set(f"{prefix}deep-object", '{"a":' * 5_000 + "1" + "}" * 5_000)
    broker.set(f"{prefix}not-utf8", b'["' + MARKER + b'"]')
    ids = ["good-0", "deep", "good-1", "not-utf8", "deep-object", "good-2", "missing"]
    worker_factory(concurrency=1, env={"MODELFLEET_SOURCE": "redis"})
    app = plain_celery_app(fleet_settings)

    items = app.send_task("modelfleet.predict_batch", args=[ids], queue=fleet_settings.queue).get(
        timeout=60
    )

    assert [item["id"] for item in items] == ids
    by_id = {item["id"]: item for item in items}
    assert all("output" in by_id[key] for key in good), items
    for bad in ("deep", "not-utf8", "deep-object"):
        assert by_id[bad]["error"]["type"] == "InvalidInput", by_id[bad]
    assert by_id["missing"]["error"]["type"] == "UnknownInput"
    text = json.dumps(items)
    assert "ATTACKER" not in text and "\\u00ff" not in text


def _follower(queue: str, body: bytes) -> bytes:
    """A plain ``modelfleet.predict`` message, as micro-batching takes them, with ``body``."""
    task_id = str(uuid.uuid4())
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"lang": "py", "task": PREDICT, "id": task_id, "root_id": task_id},
            "properties": {
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
                "delivery_mode": 2,
                "delivery_info": {"exchange": queue, "routing_key": queue},
                "priority": 0,
            },
        }
    ).encode()


def test_a_follower_that_cannot_be_decoded_is_rejected_alone_and_the_others_are_acked(
    worker_factory: WorkerFactory, fleet_settings: Settings, broker: redis.Redis
) -> None:
    queue = fleet_settings.queue
    app = plain_celery_app(fleet_settings)
    leader = app.send_task(PREDICT, args=[0], queue=queue)
    before = [app.send_task(PREDICT, args=[i], queue=queue) for i in range(1, 6)]
    for body in (b"[[" + MARKER + b"], {}, {}]", b"[" * 50_000 + b"]" * 50_000, MARKER):
        broker.lpush(queue, _follower(queue, body))
    after = [app.send_task(PREDICT, args=[i], queue=queue) for i in range(6, 12)]
    worker_factory(
        concurrency=1,
        env={"MODELFLEET_MICROBATCH_MAX": "32", "MODELFLEET_VISIBILITY_TIMEOUT": "300"},
    )

    answers = [r.get(timeout=30) for r in [leader, *before, *after]]

    assert [a["id"] for a in answers] == list(range(12))
    assert all("output" in a for a in answers), answers
    # Nothing waits for the visibility timeout: the bad ones were rejected, the rest acked.
    deadline = time.monotonic() + 10
    while (unacked_here(broker, fleet_settings) or broker.llen(queue)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert unacked_here(broker, fleet_settings) == 0
    assert broker.llen(queue) == 0
