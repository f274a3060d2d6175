"""One model per queue: the model each queue's tasks get, claimed in Redis by the pools serving it.

A pool claims every queue it consumes before it consumes: the first pool's model (name and
plug-in) becomes the queue's owner; a pool with another model is refused, so one job can never
get answers from two models. The claim is a lease, renewed by every pool serving the same model
while it runs and dropped ``OWNER_TTL`` seconds after the last one stopped: a queue then goes to
whichever model starts there next, with no manual clean-up. Redis' clock decides expiry, so
hosts with skewed clocks agree.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from worker_config import keys
from worker_config.settings import Settings

#: Seconds a queue stays claimed after the last pool serving its model stopped renewing.
OWNER_TTL = 60
#: How often a running pool renews its claims (a quarter of the lease, like lease.py).
RENEW_SECONDS = OWNER_TTL / 4

# Atomic claim: free, lapsed or same model -> (re)write and return nil; else return the owner.
_CLAIM = """
local now = tonumber(redis.call('TIME')[1])
local current = redis.call('HGET', KEYS[1], ARGV[1])
local since = now
if current then
  local owner = cjson.decode(current)
  local same = owner.model == ARGV[2] and owner.plugin == ARGV[3]
  if owner['until'] >= now and not same then return current end
  if same then since = owner.since end
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({model = ARGV[2], plugin = ARGV[3],
  worker = ARGV[4], since = since, ['until'] = now + tonumber(ARGV[5])}))
return false
"""


def claim(
    client: redis.Redis,
    settings: Settings,
    queue: str,
    *,
    model: str,
    plugin: str,
    worker: str,
    ttl: int = OWNER_TTL,
) -> dict[str, Any] | None:
    """Claim ``queue`` for ``model`` (or renew the claim); the other owner's record if refused."""
    refused = client.eval(_CLAIM, 1, keys.queue_owners(settings), queue, model, plugin, worker, ttl)
    return json.loads(refused) if refused else None


def read(client: redis.Redis, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every queue's live owner (lapsed claims left out), with ``expires_in`` seconds."""
    with client.pipeline(transaction=False) as pipe:
        pipe.time()
        pipe.hgetall(keys.queue_owners(settings))
        (now, _), raw = pipe.execute()
    owners = {}
    for queue, record in raw.items():
        owner = json.loads(record)
        if owner["until"] >= now:
            owner["expires_in"] = owner["until"] - now
            owners[queue.decode() if isinstance(queue, bytes) else str(queue)] = owner
    return owners


def refusal(queue: str, owner: dict[str, Any], model: str, plugin: str) -> str:
    """The one line a refused pool prints: both models, and what to change."""
    return (
        f"queue {queue!r} belongs to model {owner['model']!r} ({owner['plugin']}, served by "
        f"{owner['worker']}), not to this pool's {model!r} ({plugin}); one queue serves one "
        f"model: to serve {model!r} beside it, set MODELFLEET_DEFAULT_MODEL={owner['model']} "
        f"(this pool then consumes only its own queue), or name this model differently with "
        f"MODELFLEET_MODEL=<name>={plugin}; the claim lapses {OWNER_TTL}s after the last "
        f"worker serving {owner['model']!r} stops"
    )
