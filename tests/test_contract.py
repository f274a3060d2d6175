"""The wire contract and the pieces that need no processes: IDs, batches, settings, inference."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest

from producer.batching import auto_batch_size, chunk
from producer.id_input import parse_ids
from worker_config.contract import error_item, validate_id
from worker_config.errors import ConfigError, InvalidBatch, InvalidId, InvalidInput, ItemError
from worker_config.runtime.inference import Predictor
from worker_config.settings import load_settings


@pytest.mark.parametrize("good", [0, -5, 2**63 - 1, "", "abc", "x" * 256, "é"])
def test_integers_and_short_strings_are_ids(good: object) -> None:
    assert validate_id(good) == good


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (True, "boolean"),
        (1.5, "type float"),
        (None, "type NoneType"),
        ([1], "type list"),
        ({"a": 1}, "type dict"),
        ("x" * 257, "longer than 256"),
        (2**63, "64-bit"),
    ],
)
def test_anything_else_is_rejected_saying_why(bad: object, why: str) -> None:
    with pytest.raises(InvalidId, match=why):
        validate_id(bad)


def test_error_items_name_the_error_type_and_echo_a_short_id() -> None:
    item = error_item({"nested": "x" * 500}, InvalidId("nope"))
    assert item["error"] == {"type": "InvalidId", "message": "nope"}
    assert isinstance(item["id"], str) and len(item["id"]) <= 80


def test_command_line_ids_expand_ranges_and_keep_strings() -> None:
    assert parse_ids(["0-3", "7", "cat-7", " ", "5-3", "-2"]) == [
        0,
        1,
        2,
        3,
        7,
        "cat-7",
        5,
        4,
        3,
        -2,
    ]


def test_auto_batches_spread_work_and_respect_the_limit() -> None:
    assert auto_batch_size(1797, 1000, children=2) == 450  # nothing measured: 2 tasks a child
    assert auto_batch_size(10, 1000) == 5
    assert auto_batch_size(10**6, 100) == 100
    assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]


def test_bad_settings_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:secret@rabbit//")
    monkeypatch.setenv("MODELFLEET_CONCURRENCY", "0")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "CELERY_BROKER_URL: Value error, must be a Redis URL" in message
    assert "MODELFLEET_CONCURRENCY" in message
    assert "secret" not in message


class TinyModel:
    """Doubles numbers; refuses negatives at prepare time and 13 at predict time."""

    name = "tiny"
    version = "1"

    def prepare(self, raw: Any) -> Any:
        if raw < 0:
            raise InvalidInput("negative")
        return raw

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        if 13 in inputs:
            raise RuntimeError("unlucky")
        return [{"double": x * 2} for x in inputs]


class DictSource:
    def __init__(self, data: dict[object, Any]) -> None:
        self.data = data

    def fetch(self, ids: Sequence[int | str]) -> list[Any | ItemError]:
        return [self.data.get(i, InvalidInput(f"no {i}")) for i in ids]


def test_one_failing_input_never_fails_its_neighbours() -> None:
    predictor = Predictor(TinyModel(), DictSource({1: 1, 2: -1, 3: 13, 4: 4}), max_batch=10)
    items = predictor.predict_batch([1, 2, 3, 4, 5, 1.5])
    tag = {"name": "tiny", "version": "1"}
    assert items[0] == {"id": 1, "output": {"double": 2}, "model": tag}
    assert items[1]["error"]["type"] == "InvalidInput"
    assert items[2]["error"] == {
        "type": "InferenceError",
        "message": "model 'tiny' failed: RuntimeError: unlucky",
    }
    assert items[3] == {"id": 4, "output": {"double": 8}, "model": tag}
    assert items[4]["error"]["type"] == "InvalidInput"
    assert items[5]["error"]["type"] == "InvalidId"


def test_batches_over_the_limit_are_refused_whole() -> None:
    predictor = Predictor(TinyModel(), DictSource({}), max_batch=3)
    with pytest.raises(InvalidBatch, match="larger than the limit of 3"):
        predictor.predict_batch([1, 2, 3, 4])


@pytest.mark.parametrize(
    "values",
    [[0, 1, 2**63 - 1, -(2**63)], [1, "a", 2], [], [3, True], [2**63], [1, 2.0], ["x" * 257]],
)
def test_validating_many_ids_at_once_agrees_with_one_at_a_time(values: list[object]) -> None:
    from worker_config.contract import validate_ids

    try:
        one_by_one = [validate_id(x) for x in values]
    except InvalidId as exc:
        with pytest.raises(InvalidId, match=re.escape(str(exc))):
            validate_ids(values)
        return
    assert validate_ids(values) == one_by_one
    assert validate_ids(iter(values)) == one_by_one
