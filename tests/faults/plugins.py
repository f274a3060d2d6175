"""Plug-ins that misbehave on cue, for the fault suite: slow, poison, hanging, raising, flaky.

Workers load them with ``MODELFLEET_MODEL=tests.faults.plugins:fault_model`` and
``MODELFLEET_SOURCE=tests.faults.plugins:FaultSource``; the ``TEST_*`` environment variables
say how to misbehave. Each finished prediction is counted per ID in Redis, so a test can see
which IDs ran more than once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from worker_config import clients
from worker_config.contract import InputId
from worker_config.errors import ItemError
from worker_config.plugins.models import digits
from worker_config.plugins.sources.digits import N_ROWS, DigitsSource
from worker_config.settings import Settings

#: Exit status of a child killed by a poison input.
POISON_EXIT = 13


def _ids(name: str) -> set[int]:
    return {int(x) for x in os.environ.get(name, "").split(",") if x.strip()}


def executions_key(settings: Settings) -> str:
    """Redis hash: ID -> how many times a prediction of it finished."""
    return f"{settings.key_prefix}test:executions"


def starts_key(settings: Settings) -> str:
    """Redis hash: ID -> how many times a prediction of it started."""
    return f"{settings.key_prefix}test:starts"


def fetches_key(settings: Settings) -> str:
    return f"{settings.key_prefix}test:fetches"


class FaultSource:
    """The digits rows, tagged with their ID; the first ``TEST_FLAKY_FETCHES`` fetches fail."""

    def __init__(self, settings: Settings) -> None:
        self._rows = DigitsSource(settings)
        self._redis = clients.backend(settings)
        self._key = fetches_key(settings)
        self._flaky = int(os.environ.get("TEST_FLAKY_FETCHES", "0"))

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        if self._flaky and int(self._redis.incr(self._key)) <= self._flaky:  # type: ignore[arg-type]
            raise redis.ConnectionError("input source connection dropped (injected by the test)")
        wrap = os.environ.get("TEST_WRAP_IDS") == "1"  # any int ID is row ID % 1797
        rows = self._rows.fetch([i % N_ROWS if wrap and isinstance(i, int) else i for i in ids])
        return [
            row if isinstance(row, ItemError) else {"id": i, "row": row}
            for i, row in zip(ids, rows, strict=True)
        ]


@dataclass
class FaultModel:
    """The digits model, slowed down, recording, and misbehaving on the IDs it is told."""

    inner: digits.DigitsModel
    settings: Settings
    name: str = "fault"
    version: str = "1"

    def __post_init__(self) -> None:
        self.sleep = float(os.environ.get("TEST_SLEEP_PER_ITEM", "0"))
        self.poison, self.hang, self.fail = (
            _ids("TEST_POISON_IDS"),
            _ids("TEST_HANG_IDS"),
            _ids("TEST_RAISE_IDS"),
        )
        # TEST_COUNT_URL: count elsewhere than the result backend (tests that stop the backend).
        count_url = os.environ.get("TEST_COUNT_URL")
        self.redis = (
            clients.for_url(self.settings, count_url)
            if count_url
            else clients.backend(self.settings)
        )

    def prepare(self, raw: Any) -> Any:
        return raw["id"], self.inner.prepare(raw["row"])

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        ids = [i for i, _ in inputs]
        self._count(starts_key(self.settings), ids)
        for input_id in ids:
            if input_id in self.poison:
                os._exit(POISON_EXIT)
            if input_id in self.hang:
                time.sleep(3600)
            if input_id in self.fail:
                raise ValueError(f"the model cannot handle input {input_id} (injected)")
        time.sleep(self.sleep * len(ids))
        outputs = self.inner.predict([x for _, x in inputs])
        self._count(executions_key(self.settings), ids)
        log_dir = os.environ.get("TEST_EXECUTIONS_DIR")
        if log_dir:  # outside Redis, so a failover that loses writes cannot hide a rerun
            with open(os.path.join(log_dir, f"{os.getpid()}.txt"), "a") as log:
                log.write("".join(f"{i}\n" for i in ids))
        return outputs

    def _count(self, key: str, ids: list[Any]) -> None:
        """Count each ID in Redis, waiting out a Redis restart (the tests restart it)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                with self.redis.pipeline() as pipe:
                    for input_id in ids:
                        pipe.hincrby(key, str(input_id), 1)
                    pipe.execute()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def fault_model(settings: Settings) -> FaultModel:
    return FaultModel(digits.load(settings), settings)
