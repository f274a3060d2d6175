"""Turning a batch of IDs into ordered result items: one bad ID never fails its neighbours."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from billiard.exceptions import SoftTimeLimitExceeded

from worker_config.contract import ResultItem, error_item, ok_item, validate_id
from worker_config.errors import InferenceError, InvalidBatch, InvalidId, InvalidInput, ItemError
from worker_config.plugins import InputSource, Model
from worker_config.records import costs
from worker_config.runtime.state import current

logger = logging.getLogger(__name__)

#: Errors that fail the whole task so that Celery retries it: the source's connection dropped.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    SoftTimeLimitExceeded,
)
#: Characters of an exception's message kept in an item's error message.
MESSAGE_LIMIT = 200


def clip(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` with unprintable characters escaped, cut to ``limit`` characters.

    Error messages often quote the input that caused them: they go back to clients and into
    logs, so an input's bytes are never echoed raw or in full.
    """
    safe = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[: limit * 2])
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def describe(exc: BaseException) -> str:
    """``TypeName: message`` of an exception raised on one input, safe to send back."""
    if isinstance(exc, UnicodeError):  # its str() quotes the offending bytes
        return f"{type(exc).__name__}: the input is not valid text"
    if isinstance(exc, RecursionError):
        return "RecursionError: the input is nested too deeply"
    return clip(f"{type(exc).__name__}: {exc}")


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
            except Exception as exc:  # an ID no check foresaw: still only this item's problem
                items[pos] = error_item(raw, InvalidId(f"invalid ID: {describe(exc)}"))

        ready: list[tuple[int, Any]] = []
        for pos, input_id, raw_input in zip(positions, ids, self._fetch(ids), strict=True):
            if isinstance(raw_input, ItemError):
                items[pos] = error_item(input_id, type(raw_input).__name__, clip(str(raw_input)))
                continue
            try:
                ready.append((pos, self.model.prepare(raw_input)))
            except SoftTimeLimitExceeded:
                raise
            except ItemError as exc:
                items[pos] = error_item(input_id, type(exc).__name__, clip(str(exc)))
            except Exception as exc:  # a plug-in's own check failed: still this item's problem
                items[pos] = error_item(input_id, InvalidInput(describe(exc)))

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

    def _fetch(self, ids: list[Any]) -> list[Any]:
        """The source's inputs for ``ids``, one per ID; an input that breaks it fails alone.

        A dropped connection still fails the task (it is retried with backoff); any other
        exception of the batch fetch is found again one ID at a time, so only the inputs that
        raise get an ``InvalidInput`` item.
        """
        if not ids:
            return []
        try:
            inputs = list(self.source.fetch(ids))
            if len(inputs) == len(ids):
                return inputs
            logger.warning("input source returned %d inputs for %d IDs", len(inputs), len(ids))
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            if len(ids) > 1:
                logger.warning(
                    "fetching %d inputs failed (%s); fetching one by one",
                    len(ids),
                    type(exc).__name__,
                )
            else:
                return [InvalidInput(f"the input cannot be read: {describe(exc)}")]
        return [self._fetch_one(input_id) for input_id in ids]

    def _fetch_one(self, input_id: Any) -> Any:
        try:
            fetched = list(self.source.fetch([input_id]))
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            return InvalidInput(f"the input cannot be read: {describe(exc)}")
        if len(fetched) != 1:
            return InvalidInput(f"the input source returned {len(fetched)} inputs for one ID")
        return fetched[0]

    def _predict(self, inputs: list[Any]) -> list[dict[str, Any] | ItemError]:
        """One vectorised call; if it raises, retry one by one so only the culprit fails."""
        try:
            outputs: list[dict[str, Any] | ItemError] = list(self.model.predict(inputs))
        except SoftTimeLimitExceeded:  # the task's time is up: not this batch's fault
            raise
        except Exception:
            if len(inputs) == 1:
                return [self._predict_single(inputs[0])]
            logger.warning("batch of %d failed as a whole; predicting one by one", len(inputs))
            return [self._predict_single(x) for x in inputs]
        if len(outputs) == len(inputs):
            return outputs
        if len(inputs) == 1:
            return [self._miscount(len(outputs))]
        logger.warning(
            "model %r returned %d outputs for %d inputs; predicting one by one",
            self.model.name,
            len(outputs),
            len(inputs),
        )
        return [self._predict_single(x) for x in inputs]

    def _predict_single(self, prepared: Any) -> dict[str, Any] | ItemError:
        try:
            outputs = list(self.model.predict([prepared]))
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:
            return InferenceError(f"model {self.model.name!r} failed: {describe(exc)}")
        return outputs[0] if len(outputs) == 1 else self._miscount(len(outputs))

    def _miscount(self, count: int) -> InferenceError:
        return InferenceError(f"model {self.model.name!r} returned {count} outputs for 1 input")
