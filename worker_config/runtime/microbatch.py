"""Server-side micro-batching: a child running one ``modelfleet.predict`` task takes further
queued single-ID tasks straight from the Redis queue and predicts them all in one vectorised call.

Why not in the worker parent (as ``celery-batches`` does): there every message still costs the
consumer its decode, request object, pool hand-off and ack, which is most of Celery's per-task
CPU. Here the followers never touch the parent.

Guarantees, per ID, the same as kombu's own Redis transport:

* A follower is moved from the queue into kombu's ``unacked`` hash and ``unacked_index`` in one
  Lua script, exactly as the consumer does it, so there is no moment it lives nowhere.
* Its result is stored (``SET`` + ``PUBLISH``, like Celery's backend) before it is acknowledged
  (removed from ``unacked``). A child that dies in between leaves it in ``unacked``, and every
  worker's consumer puts it back on the queue once ``MODELFLEET_VISIBILITY_TIMEOUT`` has passed:
  at least once, never lost. (The leader, a normal Celery task, is requeued at once by
  ``reject_on_worker_lost``; followers wait for the visibility timeout.)
* Only plain messages are taken: task ``modelfleet.predict``, JSON, priority 0, no ETA, expiry,
  group, callbacks, chain or chord, not redelivered (a redelivered one goes through Celery and
  its delivery counting, so an input that kills children is found). The script stops at the
  first other message, so anything else keeps its place and goes through Celery as usual.

Followers send no Celery task events and fire no task signals: Flower sees their results but
not their start.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import redis
from celery import states

from worker_config import clients, keys, replication
from worker_config.contract import PREDICT, ResultItem
from worker_config.runtime.inference import Predictor
from worker_config.runtime.state import current
from worker_config.settings import Settings

logger = logging.getLogger(__name__)

#: kombu's names of its unacknowledged-message keys, before any global prefix (keys.py).
UNACKED_KEY, UNACKED_INDEX_KEY = keys.UNACKED, keys.UNACKED_INDEX
#: Seconds between looks at the queue while waiting for a micro-batch to fill.
POLL_INTERVAL = 0.0005

#: Pops up to ARGV[1] plain ``modelfleet.predict`` messages from the consuming end of KEYS[1]
#: into kombu's unacked hash (KEYS[2]) and index (KEYS[3]) at time ARGV[3], atomically.
TAKE_SCRIPT = """
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
  redis.call('ZADD', KEYS[3], ARGV[3], p['delivery_tag'])
  redis.call('HSET', KEYS[2], p['delivery_tag'],
    '[' .. raw .. ',' .. cjson.encode(info['exchange']) .. ','
        .. cjson.encode(info['routing_key']) .. ']')
  taken[#taken + 1] = raw
end
return taken
"""


@dataclass
class Follower:
    """A single-ID task taken from the queue by a child, not by the worker parent."""

    task_id: str
    delivery_tag: str
    input_id: object
    raw: bytes


class MicroBatcher:
    """One per pool child: takes followers, predicts, stores their results, acknowledges them."""

    def __init__(self, settings: Settings, backend: Any) -> None:
        self.settings = settings
        self.backend = backend
        self.max_size = min(settings.microbatch_max, settings.max_batch)
        self.wait = settings.microbatch_wait_ms / 1000
        self.broker = clients.broker(settings)
        self._unacked, self._unacked_index = keys.unacked(settings), keys.unacked_index(settings)
        self._take = self.broker.register_script(TAKE_SCRIPT)

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
        followers = self.take(queue, dict(kwargs or {}), self.max_size - 1)
        if not followers:
            return predictor.predict_one(input_id)
        items = predictor.predict_batch([input_id] + [f.input_id for f in followers])
        self.finish(followers, items[1:])
        return items[0]

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
                keys=[keys.queue(self.settings, queue), self._unacked, self._unacked_index],
                args=[limit, PREDICT, time.time()],
            )
        except redis.RedisError as exc:  # the leader still gets its answer
            logger.warning("micro-batching: could not take queued tasks: %s", exc)
            return []
        followers, odd = [], []
        for raw in raws:
            follower = _decode(raw, kwargs)
            if follower is None:
                odd.append(raw)
            else:
                followers.append(follower)
        if odd:
            self._give_back(queue, odd)
        return followers

    def finish(self, followers: list[Follower], items: list[ResultItem]) -> None:
        """Store each follower's result, then acknowledge it: a crash between means redelivery."""
        try:
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
            self._ack([f.delivery_tag for f in followers])
        except redis.RedisError as exc:
            logger.warning(
                "micro-batching: could not store or acknowledge %d results (%s); "
                "they will be redelivered after the visibility timeout",
                len(followers),
                exc,
            )

    def _ack(self, tags: list[str]) -> None:
        with self.broker.pipeline(transaction=True) as pipe:
            pipe.zrem(self._unacked_index, *tags)
            pipe.hdel(self._unacked, *tags)
            pipe.execute()

    def _give_back(self, queue: str, raws: list[bytes]) -> None:
        """Put messages we cannot answer here back at the consuming end, unchanged."""
        tags = [json.loads(raw)["properties"]["delivery_tag"] for raw in raws]
        with self.broker.pipeline(transaction=True) as pipe:
            pipe.rpush(keys.queue(self.settings, queue), *reversed(raws))
            pipe.zrem(self._unacked_index, *tags)
            pipe.hdel(self._unacked, *tags)
            pipe.execute()


def _decode(raw: bytes, leader_kwargs: Mapping[str, Any]) -> Follower | None:
    """The follower in a message, or None if it needs Celery (callbacks, other kwargs, odd args)."""
    try:
        message = json.loads(raw)
        args, kwargs, embed = json.loads(base64.b64decode(message["body"]))
        if kwargs != leader_kwargs or not isinstance(args, list) or len(args) != 1:
            return None
        if isinstance(embed, dict) and any(embed.get(k) for k in _CELERY_ONLY):
            return None
        return Follower(
            task_id=message["headers"]["id"],
            delivery_tag=message["properties"]["delivery_tag"],
            input_id=args[0],
            raw=raw,
        )
    except (ValueError, KeyError, TypeError):
        return None


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
