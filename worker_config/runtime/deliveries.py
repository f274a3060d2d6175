"""Poison inputs: count each task's deliveries in Redis, find the input that kills its child.

With ``acks_late`` and ``reject_on_worker_lost`` a task whose child dies is delivered again, and
Celery's ``max_retries`` does not count these deliveries (celery#4250): an input that crashes the
process every time would loop forever. The first delivery runs the batch as usual (one vectorised
call), touching Redis only to record that a batch started: kombu marks every message it puts
back (a rejected task, an expired lease) ``redelivered``. Only such a delivery is counted in
Redis, keyed by task ID, and it means an earlier one died (for a batch, only if our record shows
that an earlier delivery started: anyone can set the flag): the batch is then run one input at
a time, with the input in flight written to Redis first, so the next death is charged to the
one input that was running, and finished items are kept. An input that was running alone during
``MODELFLEET_MAX_DELIVERIES`` deaths (default 3) is not run again: it gets a ``DeadLettered``
error item and an entry in the dead-letter list, and its neighbours are predicted as usual.
One input at a time (rather than bisecting) costs one extra death per batch with poison in it
(the first, whole-batch one) instead of log2(batch) of them, and each death is a model reload.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

import redis
from billiard.exceptions import SoftTimeLimitExceeded

from worker_config import clients, keys
from worker_config.contract import InputId, ResultItem, error_item
from worker_config.records import dead_letters
from worker_config.settings import Settings

logger = logging.getLogger(__name__)

Run = Callable[[list[Any]], list[ResultItem]]

#: Errors of the input source or result store that are worth retrying: a dropped connection.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
)
#: Celery task options: retry those errors with exponential backoff and jitter, keep a task
#: cancelled on a connection loss for redelivery (task_request.py), and refuse an ETA beyond
#: ``MODELFLEET_MAX_ETA`` (eta_limit.py).
RETRY_OPTIONS: dict[str, Any] = {
    "Request": "worker_config.celery_ext.eta_limit:BoundedRequest",
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 6,
}


def state_key(settings: Settings, task_id: str) -> str:
    return keys.delivery(settings, task_id)


def guarded(
    settings: Settings, request: Any, ids: object, run: Run, isolated: Run | None = None
) -> list[ResultItem]:
    """``run(ids)``, counting this delivery; after a death, isolate and dead-letter poison.

    ``isolated`` predicts a one-input list after a death (default ``run``): it must not pull
    other tasks' inputs into the same call (server-side micro-batching), or they share the blame.
    """
    if not isinstance(ids, list) or not 0 < len(ids) <= settings.max_batch or not request.id:
        return run(ids)  # type: ignore[arg-type]  # run raises the clear InvalidBatch error
    redelivered = (getattr(request, "delivery_info", None) or {}).get("redelivered")
    if not redelivered and len(ids) == 1:
        return _run_whole(ids, run)  # a first delivery: nobody died yet, nothing to count
    client = clients.backend(settings)
    key = state_key(settings, request.id)
    if not redelivered:  # a batch: record that it started, so only a real death isolates it
        return _run_recorded(client, settings, key, ids, run)
    try:
        with client.pipeline() as pipe:
            pipe.hincrby(key, "n", 1)
            pipe.hgetall(key)
            pipe.expire(key, settings.result_expires)
            redeliveries, state, _ = pipe.execute()
    except redis.RedisError as exc:  # serving matters more than counting
        logger.warning("cannot count deliveries of task %s (%s); running it", request.id, exc)
        return _run_whole(ids, run)
    if len(ids) > 1 and STARTED not in state:
        logger.warning(
            "task %s is marked redelivered but no earlier delivery of it started here (a "
            "forged flag, or it was put back unrun): running its %d inputs together",
            request.id,
            len(ids),
        )
        return _run_recorded(client, settings, key, ids, run)
    delivery = redeliveries + 1
    logger.warning(
        "task %s is on delivery %d: an earlier one died; running its %d inputs one at a time",
        request.id,
        delivery,
        len(ids),
    )
    return _Isolated(
        settings, request=request, ids=ids, run=isolated or run, client=client, key=key, state=state
    ).run()


#: Field of a task's delivery record set when a delivery of a batch starts running it whole.
STARTED = b"started"


def _run_recorded(
    client: redis.Redis, settings: Settings, key: str, ids: list[Any], run: Run
) -> list[ResultItem]:
    """Run a batch whole, with its start recorded: a ``redelivered`` flag is trusted only if a
    delivery of it was seen to start (a forged flag on a 1,000-ID batch made it run one ID at a
    time, 20 times slower). One pipelined write per batch; single IDs need none."""
    try:
        with client.pipeline() as pipe:
            pipe.hset(key, STARTED.decode(), 1)
            pipe.expire(key, settings.result_expires)
            pipe.execute()
    except redis.RedisError as exc:  # serving matters more than counting
        logger.warning("cannot record the start of a batch (%s); running it", exc)
    items = _run_whole(ids, run)
    _forget(client, key)
    return items


def _run_whole(ids: list[Any], run: Run) -> list[ResultItem]:
    try:
        return run(ids)
    except SoftTimeLimitExceeded:
        return [_time_limit_item(x) for x in ids]


def _time_limit_item(input_id: object) -> ResultItem:
    return error_item(
        input_id,
        "TimeLimitExceeded",
        "the task ran past MODELFLEET_TASK_SOFT_TIME_LIMIT; raise it or send smaller batches",
    )


def _forget(client: redis.Redis, key: str) -> None:
    with contextlib.suppress(redis.RedisError):  # else the key expires by itself
        client.delete(key)


class _Isolated:
    """One delivery after a death: inputs one at a time, each death charged to one input."""

    def __init__(
        self,
        settings: Settings,
        *,
        request: Any,
        ids: list[Any],
        run: Run,
        client: redis.Redis,
        key: str,
        state: dict[bytes, bytes],
    ) -> None:
        self.settings, self.request, self.ids, self.predict = settings, request, ids, run
        self.client, self.key = client, key
        self.done: dict[int, ResultItem] = {}
        self.strikes: dict[int, int] = {}
        for field, value in state.items():
            name, _, index = field.decode().partition(":")
            if name == "done":
                self.done[int(index)] = json.loads(value)
            elif name == "strikes":
                self.strikes[int(index)] = int(value)
        raw_inflight = state.get(b"inflight")
        # No record: the delivery that died ran the whole batch at once, which says nothing
        # about which input did it, unless there was only one.
        inflight: list[int] = (
            json.loads(raw_inflight) if raw_inflight is not None else [0] if len(ids) == 1 else []
        )
        with client.pipeline() as pipe:
            for pos in inflight:
                if pos not in self.done:
                    self.strikes[pos] = self.strikes.get(pos, 0) + 1
                    pipe.hincrby(key, f"strikes:{pos}", 1)
            pipe.hset(key, "inflight", "[]")
            pipe.execute()

    def run(self) -> list[ResultItem]:
        items: list[ResultItem] = []
        letters = []
        try:
            for pos, input_id in enumerate(self.ids):
                if pos in self.done:
                    items.append(self.done[pos])
                elif self.strikes.get(pos, 0) >= self.settings.max_deliveries:
                    letter = self._letter(input_id, self.strikes[pos])
                    letters.append(letter)
                    items.append(error_item(input_id, dead_letters.error_for(letter)))
                else:
                    items.append(self._one(pos, input_id))
        except SoftTimeLimitExceeded:
            items += [_time_limit_item(x) for x in self.ids[len(items) :]]
        except BaseException:
            self.client.hset(self.key, "inflight", "[]")  # a Python error is not a death
            raise
        if letters:
            dead_letters.record(self.client, self.settings, letters)
            for letter in letters:
                logger.error(
                    "dead-lettered input %r of task %s: %s",
                    letter.id,
                    letter.task_id,
                    letter.reason,
                )
        _forget(self.client, self.key)
        return items

    def _one(self, pos: int, input_id: object) -> ResultItem:
        self.client.hset(self.key, "inflight", json.dumps([pos]))
        item = self.predict([input_id])[0]
        with self.client.pipeline() as pipe:
            pipe.hset(self.key, mapping={f"done:{pos}": json.dumps(item), "inflight": "[]"})
            pipe.execute()
        return item

    def _letter(self, input_id: InputId, deaths: int) -> dead_letters.DeadLetter:
        info = getattr(self.request, "delivery_info", None) or {}
        return dead_letters.make(
            input_id,
            task_id=self.request.id,
            task=getattr(self.request, "task", None) or "?",
            queue=str(info.get("routing_key") or self.settings.queue),
            deliveries=deaths,
            max_deliveries=self.settings.max_deliveries,
        )
