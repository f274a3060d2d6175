"""Server-side micro-batching: a child running one ``modelfleet.predict`` task takes further
queued single-ID tasks straight from the Redis queue and predicts them all in one vectorised call.

Why not in the worker parent (as ``celery-batches`` does): there every message still costs the
consumer its decode, request object, pool hand-off and ack, which is most of Celery's per-task
CPU. Here the followers never touch the parent.

Guarantees, per ID, the same as kombu's own Redis transport:

* A follower is moved from the queue into kombu's ``unacked`` hash and ``unacked_index`` in one
  Lua script, exactly as the consumer does it, so there is no moment it lives nowhere.
* Its result is stored (``SET`` + ``PUBLISH``, like Celery's backend) before it is acknowledged
  (removed from ``unacked``). A child that dies in between leaves it in ``unacked``, recorded as
  taken by that child's PID: the worker parent puts it back on the queue within a second of
  seeing the child gone (``celery_ext/follower_rescue.py``), marked redelivered so its
  deliveries are counted; if the whole worker died, every worker's consumer puts it back once
  ``MODELFLEET_VISIBILITY_TIMEOUT`` has passed. At least once, never lost. (The leader, a
  normal Celery task, is requeued at once by ``reject_on_worker_lost``.)
* Only plain messages are taken: task ``modelfleet.predict``, JSON, priority 0, no ETA, expiry,
  group, callbacks, chain or chord, not redelivered (a redelivered one goes through Celery and
  its delivery counting, so an input that kills children is found). The script stops at the
  first other message, so anything else keeps its place and goes through Celery as usual.

How many: the child fits time(n) = a + b*n to its own timed model calls (``cost_model.py``)
and takes the smallest n reaching 95% of the fitted asymptotic throughput, at most
:data:`MAX_BATCH_SECONDS` of model time and at most ``MODELFLEET_MICROBATCH_MAX``. A forest,
which pays per tree per call, gets the cap; a model that costs the same per item at any size
gets small batches, which cost it nothing and keep each result's wait short.

Followers send no Celery task events and fire no task signals: Flower sees their results but
not their start.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from celery import states

from worker_config import clients, keys, replication, server_clock
from worker_config.contract import PREDICT, ResultItem
from worker_config.cost_model import fit
from worker_config.records.costs import Sample
from worker_config.runtime.inference import Predictor
from worker_config.runtime.state import current
from worker_config.settings import Settings
from worker_config.store_retry import STORE_ERRORS, retry_store

logger = logging.getLogger(__name__)

#: kombu's names of its unacknowledged-message keys, before any global prefix (keys.py).
UNACKED_KEY, UNACKED_INDEX_KEY = keys.UNACKED, keys.UNACKED_INDEX
#: Seconds between looks at the queue while waiting for a micro-batch to fill.
POLL_INTERVAL = 0.0005
#: Most seconds of model time one micro-batch is sized for: every result in it waits for the
#: whole call, and the leader's time limit counts it.
MAX_BATCH_SECONDS = 0.5
#: Micro-batch size before this child has timed one of its own; the fit decides from then on.
FIRST_SIZE = 64


def batch_size(samples: list[Sample], cap: int) -> int:
    """IDs per micro-batch from this child's timed calls: 95% of the fitted asymptote, at most
    :data:`MAX_BATCH_SECONDS` of work and ``cap``; :data:`FIRST_SIZE` before any sample."""
    cost = fit(samples)
    if cost is None:
        return max(1, min(FIRST_SIZE, cap))
    return max(1, min(cost.size_for_share(), cost.largest_within(MAX_BATCH_SECONDS), cap))


#: Pops up to ARGV[1] plain ``modelfleet.predict`` messages from the consuming end of KEYS[1]
#: into kombu's unacked hash (KEYS[2]) and index (KEYS[3]) at the Redis server's time (the
#: same clock every worker's lease sweep compares with, ``server_clock.py``), and records each
#: as taken by this child (PID ARGV[3]) in KEYS[4] for ARGV[4] seconds, atomically; returns
#: ``[delivery_tag, raw]`` pairs (the tag as Lua read it, even if Python cannot decode the raw).
TAKE_SCRIPT = (
    server_clock.NOW_LUA
    + """
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
  local raw = redis.call('LINDEX', KEYS[1], -1)
  if not raw then break end
  local ok, msg = pcall(cjson.decode, raw)
  if not ok or type(msg) ~= 'table' then break end
  local h, p = msg['headers'], msg['properties']
  if type(h) ~= 'table' or type(p) ~= 'table' then break end
  if h['task'] ~= ARGV[2] or msg['content-type'] ~= 'application/json' then break end
  if p['body_encoding'] ~= 'base64' or type(p['delivery_tag']) ~= 'string' then break end
  if h['eta'] ~= cjson.null or h['expires'] ~= cjson.null or h['group'] ~= cjson.null then
    break
  end
  if h['redelivered'] == true then break end
  local info = p['delivery_info']
  if type(info) ~= 'table' then break end
  redis.call('RPOP', KEYS[1])
  redis.call('ZADD', KEYS[3], now, p['delivery_tag'])
  redis.call('HSET', KEYS[2], p['delivery_tag'],
    '[' .. raw .. ',' .. cjson.encode(info['exchange']) .. ','
        .. cjson.encode(info['routing_key']) .. ']')
  redis.call('HSET', KEYS[4], p['delivery_tag'], ARGV[3])
  taken[#taken + 1] = {p['delivery_tag'], raw}
end
if #taken > 0 then redis.call('EXPIRE', KEYS[4], ARGV[4]) end
return taken
"""
)


@dataclass
class Follower:
    """A single-ID task taken from the queue by a child, not by the worker parent."""

    task_id: str
    delivery_tag: str
    input_id: object
    raw: bytes
    queue: str


class MicroBatcher:
    """One per pool child: takes followers, predicts, stores their results, acknowledges them."""

    def __init__(self, settings: Settings, backend: Any) -> None:
        self.settings = settings
        self.backend = backend
        self.max_size = min(settings.microbatch_max, settings.max_batch)
        self.wait = settings.microbatch_wait_ms / 1000
        self.broker = clients.broker(settings)
        self._unacked, self._unacked_index = keys.unacked(settings), keys.unacked_index(settings)
        self._taken = keys.taken(settings, current().hostname, os.getppid())
        self._taken_for = str(2 * settings.visibility_timeout + 60)  # seconds the record lives
        self._take = self.broker.register_script(TAKE_SCRIPT)
        self._sizes: dict[str, tuple[int, int]] = {}  # model -> (size, samples it was fitted on)

    def predict(
        self,
        predictor: Predictor,
        input_id: object,
        queue: str,
        kwargs: Mapping[str, Any] | None = None,
    ) -> ResultItem:
        """The leader's item; queued single-ID tasks behind it are answered in the same call.

        Followers come from the leader's ``queue`` and must carry the same ``kwargs`` (the
        ``model`` it names), so one loaded model answers them all.
        """
        size = self.size_for(predictor.model.name)
        followers = self.take(queue, dict(kwargs or {}), size - 1)
        if not followers:
            return predictor.predict_one(input_id)
        try:
            items = predictor.predict_batch([input_id] + [f.input_id for f in followers])
        except BaseException:  # the leader fails (time limit, source down): followers go back
            self._requeue(followers)
            raise
        self.finish(followers, items[1:])
        return items[0]

    def size_for(self, model: str) -> int:
        """This child's micro-batch size for ``model`` (:func:`batch_size`), refitted only when
        a model call added a sample (a leader alone on an idle queue adds none)."""
        meter = current().meters.get(model)
        added = meter.added if meter else 0
        size, fitted_on = self._sizes.get(model, (0, -1))
        if fitted_on != added:
            size = batch_size(meter.samples() if meter else [], self.max_size)
            self._sizes[model] = (size, added)
        return size

    def take(self, queue: str, kwargs: Mapping[str, Any], limit: int) -> list[Follower]:
        """Up to ``limit`` followers; waits up to the max wait for more only if some are queued."""
        if limit <= 0:
            return []
        followers = self._take_now(queue, kwargs, limit)
        if followers and self.wait > 0:
            deadline = time.monotonic() + self.wait
            while len(followers) < limit and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
                followers += self._take_now(queue, kwargs, limit - len(followers))
        return followers

    def _take_now(self, queue: str, kwargs: Mapping[str, Any], limit: int) -> list[Follower]:
        try:
            raws = self._take(
                keys=[
                    keys.queue(self.settings, queue),
                    self._unacked,
                    self._unacked_index,
                    self._taken,
                ],
                args=[limit, PREDICT, os.getpid(), self._taken_for],
            )
        except redis.RedisError as exc:  # the leader still gets its answer
            logger.warning("micro-batching: could not take queued tasks: %s", exc)
            return []
        followers: list[Follower] = []
        odd: list[tuple[bytes, bytes]] = []
        bad: list[bytes] = []
        for tag, raw in raws:
            try:
                follower = _decode(raw, tag, queue, kwargs)
            except Exception as exc:  # cannot be decoded: costs this message only
                logger.error(
                    "micro-batching: rejected queued task with delivery tag %s on queue %r: its "
                    "body cannot be decoded (%s)",
                    _safe(tag),
                    queue,
                    type(exc).__name__,
                )
                bad.append(tag)
                continue
            if follower is None:
                odd.append((tag, raw))
            else:
                followers.append(follower)
        try:
            if odd:
                self._give_back(queue, [r for _, r in odd], [_text(t) for t, _ in odd])
            if bad:
                self._reject([_text(t) for t in bad])
        except redis.RedisError as exc:  # they come back after the visibility timeout
            logger.warning("micro-batching: could not give back queued tasks: %s", exc)
        return followers

    def finish(self, followers: list[Follower], items: list[ResultItem]) -> None:
        """Store each follower's result, then acknowledge it; unstored, it goes back to the queue.

        A store that keeps failing (the backend down or full) is retried like a task's own
        result (``MODELFLEET_RESULT_STORE_RETRY_SECONDS``), then the followers are put back
        unacknowledged; a crash in between leaves them for the visibility timeout.
        """

        def store() -> None:
            with self.backend.client.pipeline(transaction=False) as pipe:
                for follower, item in zip(followers, items, strict=True):
                    key = self.backend.get_key_for_task(follower.task_id)
                    value = self.backend.encode(_meta(self.backend, follower.task_id, item))
                    pipe.setex(key, self.backend.expires, value)
                    pipe.publish(key, value)
                if replication.add_wait(pipe, self.settings):  # MODELFLEET_REPLICA_ACKS
                    replication.check(pipe.execute()[-1], self.settings)
                else:
                    pipe.execute()

        budget = self.settings.result_store_retry_seconds
        try:
            retry_store(store, budget, f"the results of {len(followers)} micro-batched tasks")
        except STORE_ERRORS as exc:
            logger.error(
                "micro-batching: %d results not stored after %.0fs (%s); their tasks go back "
                "to the queue to run again",
                len(followers),
                budget,
                type(exc).__name__,
            )
            self._requeue(followers)
            return
        try:
            self._ack([f.delivery_tag for f in followers])
        except redis.RedisError as exc:
            logger.warning(
                "micro-batching: could not acknowledge %d stored results (%s); they run "
                "again after the visibility timeout",
                len(followers),
                exc,
            )

    def _requeue(self, followers: list[Follower]) -> None:
        """Put followers whose results were not stored back on their queue, to run again."""
        try:
            by_queue: dict[str, list[Follower]] = {}
            for follower in followers:
                by_queue.setdefault(follower.queue, []).append(follower)
            for queue, group in by_queue.items():
                self._give_back(queue, [f.raw for f in group], [f.delivery_tag for f in group])
        except redis.RedisError as exc:
            logger.warning(
                "micro-batching: could not requeue %d tasks (%s); they run again after the "
                "visibility timeout",
                len(followers),
                exc,
            )

    def _ack(self, tags: list[str]) -> None:
        with self.broker.pipeline(transaction=True) as pipe:
            self._untrack(pipe, tags)
            pipe.execute()

    def _give_back(self, queue: str, raws: list[bytes], tags: list[str]) -> None:
        """Put messages we cannot answer here back at the consuming end, unchanged."""
        with self.broker.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.queue(self.settings, queue), *reversed(raws))
            self._untrack(pipe, tags)
            pipe.execute()

    def _untrack(self, pipe: Any, tags: list[str]) -> None:
        """Queue, on ``pipe``, the removal of ``tags`` from every record the take script wrote."""
        pipe.zrem(self._unacked_index, *tags)
        pipe.hdel(self._unacked, *tags)
        pipe.hdel(self._taken, *tags)

    def _reject(self, tags: list[str]) -> None:
        """Drop messages no worker could decode, as Celery drops a body it cannot decode."""
        self._ack(tags)


def _decode(
    raw: bytes, tag: bytes, queue: str, leader_kwargs: Mapping[str, Any]
) -> Follower | None:
    """The follower in a message, or None if it needs Celery (callbacks, other kwargs, odd args).

    Raises if the message cannot be decoded at all (not UTF-8, not JSON, nested too deep).
    """
    message = json.loads(raw)
    args, kwargs, embed = json.loads(base64.b64decode(message["body"], validate=True))
    try:
        if kwargs != leader_kwargs or not isinstance(args, list) or len(args) != 1:
            return None
        if isinstance(embed, dict) and any(embed.get(k) for k in _CELERY_ONLY):
            return None
        task_id = message["headers"]["id"]
        if not isinstance(task_id, str):
            return None
        return Follower(task_id, _text(tag), args[0], raw, queue)
    except (ValueError, KeyError, TypeError):
        return None


def _text(tag: bytes | str) -> str:
    return tag.decode("utf-8", "surrogateescape") if isinstance(tag, bytes) else tag


def _safe(value: bytes | str, limit: int = 64) -> str:
    """A short printable form of something a client sent, for a log line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: Message options only Celery's own task machinery can honour.
_CELERY_ONLY = ("callbacks", "errbacks", "chain", "chord")


def _meta(backend: Any, task_id: str, item: ResultItem) -> dict[str, Any]:
    meta: dict[str, Any] = backend._get_result_meta(
        result=item, state=states.SUCCESS, traceback=None, request=None
    )
    meta["task_id"] = task_id
    return meta


def for_this_child(settings: Settings, backend: Any) -> MicroBatcher:
    """This process's batcher, made on first use: after the fork, so its connections are its."""
    state = current()
    if state.batcher is None:
        state.batcher = MicroBatcher(settings, backend)
    return state.batcher
