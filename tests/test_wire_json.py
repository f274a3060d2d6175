"""The orjson-backed ``json`` serializer reads and writes what kombu's own does."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import pytest
from kombu.serialization import dumps, loads, registry
from kombu.utils import json as kombu_json

from worker_config import wire_json

VALUES: list[Any] = [
    [{"id": 0, "output": {"label": 3, "confidence": 0.9997}, "model": {"name": "digits"}}],
    [{"id": "scan-\u00e9-1", "error": {"type": "InvalidId", "message": 'bad "id"'}}],
    ([[1, 2, 3]], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}),
    {"status": "SUCCESS", "result": [1], "traceback": None, "children": [], "date_done": None},
    {"when": datetime(2026, 12, 1, 23, 0, 1, 5, tzinfo=UTC), "day": date(2026, 1, 2)},
    {"at": time(3, 4, 5), "price": Decimal("1.10"), "raw": b"\x00\xff", "text": b"abc"},
    {1: "integer keys become strings", "big": 2**70, "neg": -(2**63)},
    {"float": 1e-300, "list": [None, True, False]},
]


@pytest.mark.parametrize("value", VALUES)
def test_values_round_trip_exactly_as_kombus_json(value: Any) -> None:
    ours = wire_json.loads(wire_json.dumps(value))
    theirs = kombu_json.loads(kombu_json.dumps(value))
    assert ours == theirs
    # and each side reads what the other wrote
    assert kombu_json.loads(wire_json.dumps(value)) == theirs
    assert wire_json.loads(kombu_json.dumps(value)) == theirs


def test_output_is_plain_json_a_standard_library_reader_gets_the_same_values_from() -> None:
    items = VALUES[0] + VALUES[1]
    assert json.loads(wire_json.dumps(items)) == json.loads(kombu_json.dumps(items))


def test_kombu_type_envelopes_are_written_like_kombu_writes_them() -> None:
    value = {"when": datetime(2026, 1, 1, 0, 0, tzinfo=UTC), "amount": Decimal("2.5")}
    assert json.loads(wire_json.dumps(value)) == json.loads(kombu_json.dumps(value))


def test_nan_written_by_the_standard_library_is_still_read() -> None:
    assert wire_json.loads('{"x": NaN}')["x"] != wire_json.loads('{"x": NaN}')["x"]


def test_installed_serializer_keeps_the_json_content_type_and_encoding() -> None:
    wire_json.install()
    content_type, encoding, payload = dumps([{"id": 1}], serializer="json")
    assert (content_type, encoding) == ("application/json", "utf-8")
    assert registry._encoders["json"].encoder is wire_json.dumps
    assert loads(payload, content_type, encoding, accept=["application/json"]) == [{"id": 1}]


def test_uuid_is_written_as_its_string_the_one_documented_difference() -> None:
    value = uuid.UUID(int=7)
    assert wire_json.loads(wire_json.dumps({"u": value})) == {"u": str(value)}


def test_a_1000_item_result_is_encoded_and_decoded_in_under_half_of_kombus_time() -> None:
    """The bench prints the absolute figures (target <= 1 us per item); a ratio here, measured
    side by side, holds on a loaded machine and fails if a fallback path is taken."""
    import timeit

    items = [
        {"id": i, "output": {"label": i % 10, "confidence": 0.5 + i / 1e4},
         "model": {"name": "forest", "version": "abc123"}}
        for i in range(1000)
    ]  # fmt: skip
    meta = {"status": "SUCCESS", "result": items, "traceback": None, "children": []}
    payload = wire_json.dumps(meta)

    def best(f: Any) -> float:
        return min(timeit.repeat(f, number=10, repeat=7))

    assert best(lambda: wire_json.dumps(meta)) < 0.5 * best(lambda: kombu_json.dumps(meta))
    assert best(lambda: wire_json.loads(payload)) < 0.5 * best(lambda: kombu_json.loads(payload))


def test_a_large_result_is_decoded_without_garbage_collections_and_the_collector_stays_on() -> None:
    import gc

    items = [{"id": i, "output": {"label": i % 10}, "model": {"name": "d"}} for i in range(5000)]
    large = wire_json.dumps({"result": items})
    assert len(large) >= wire_json.LARGE_PAYLOAD
    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    threshold = gc.get_threshold()
    gc.callbacks.append(count)
    gc.set_threshold(50)
    try:
        json.loads(large)
        unpaused = len(collections)
        collections.clear()
        assert wire_json.loads(large)["result"] == items
        paused = len(collections)
    finally:
        gc.set_threshold(*threshold)
        gc.callbacks.remove(count)
    assert unpaused > 50  # the same payload decoded with the collector on: ~1 per 50 dicts
    assert paused <= 1  # the one the new containers trigger once the collector is back on
    assert gc.isenabled()
