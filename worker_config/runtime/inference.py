"""Turning a batch of IDs into ordered result items: one bad ID never fails its neighbours."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded

from worker_config.contract import ResultItem, error_item, ok_item, validate_id
from worker_config.errors import InferenceError, InvalidBatch, InvalidInput, ItemError
from worker_config.plugins import InputSource, Model
from worker_config.records import costs
from worker_config.runtime.state import current

logger = logging.getLogger(__name__)


@dataclass
class Predictor:
    """A loaded model and its input source, as each pool child holds them."""

    model: Model
    source: InputSource
    max_batch: int

    def predict_one(self, raw_id: object) -> ResultItem:
        return self._run([raw_id])[0]

    def predict_batch(self, ids: object) -> list[ResultItem]:
        if not isinstance(ids, list):
            raise InvalidBatch(
                f"predict_batch takes one argument, a list of IDs; got {type(ids).__name__}"
            )
        if not ids:
            raise InvalidBatch("predict_batch got an empty list; send at least one ID")
        if len(ids) > self.max_batch:
            raise InvalidBatch(
                f"batch of {len(ids)} IDs is larger than the limit of {self.max_batch}; "
                "split it (the producer does) or raise MODELFLEET_MAX_BATCH on the workers"
            )
        started = time.perf_counter()
        items = self._run(ids)
        seconds = time.perf_counter() - started
        costs.observe(current().meters, self.model.name, len(ids), seconds)  # sizes batches
        return items

    def _run(self, raw_ids: Sequence[object]) -> list[ResultItem]:
        items: list[ResultItem | None] = [None] * len(raw_ids)
        positions, ids = [], []
        for pos, raw in enumerate(raw_ids):
            try:
                ids.append(validate_id(raw))
                positions.append(pos)
            except ItemError as exc:
                items[pos] = error_item(raw, exc)

        ready: list[tuple[int, Any]] = []
        for pos, input_id, raw_input in zip(positions, ids, self.source.fetch(ids), strict=True):
            if isinstance(raw_input, ItemError):
                items[pos] = error_item(input_id, raw_input)
                continue
            try:
                ready.append((pos, self.model.prepare(raw_input)))
            except ItemError as exc:
                items[pos] = error_item(input_id, exc)
            except Exception as exc:  # a plug-in's own check failed: still this item's problem
                items[pos] = error_item(input_id, InvalidInput(f"{type(exc).__name__}: {exc}"))

        if ready:
            # Which model and version produced it: during a reload, both versions serve. One
            # dict for the whole batch: the items are encoded, never changed, in the worker.
            produced_by = {"name": self.model.name, "version": self.model.version}
            for (pos, _), output in zip(ready, self._predict([x for _, x in ready]), strict=True):
                raw_id = raw_ids[pos]
                item = (
                    error_item(raw_id, output)
                    if isinstance(output, ItemError)
                    else ok_item(raw_id, output)
                )
                item["model"] = produced_by
                items[pos] = item
        return [item for item in items if item is not None]

    def _predict(self, inputs: list[Any]) -> list[dict[str, Any] | ItemError]:
        """One vectorised call; if it raises, retry one by one so only the culprit fails."""
        try:
            outputs = self.model.predict(inputs)
        except SoftTimeLimitExceeded:  # the task's time is up: not this batch's fault
            raise
        except Exception:
            if len(inputs) == 1:
                return [self._predict_single(inputs[0])]
            logger.warning("batch of %d failed as a whole; predicting one by one", len(inputs))
            return [self._predict_single(x) for x in inputs]
        if len(outputs) != len(inputs):
            raise InferenceError(
                f"model {self.model.name!r} returned {len(outputs)} outputs "
                f"for {len(inputs)} inputs"
            )
        return list(outputs)

    def _predict_single(self, prepared: Any) -> dict[str, Any] | ItemError:
        try:
            return self.model.predict([prepared])[0]
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            return InferenceError(f"model {self.model.name!r} failed: {type(exc).__name__}: {exc}")
