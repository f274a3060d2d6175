"""Celery's Redis result backend, storing a task's result in one round trip instead of two.

Celery's ``_store_result`` first GETs the result key (a result already stored as SUCCESS, by a
twin delivery, must not be overwritten) and then SETs and PUBLISHes it: two round trips and two
commands per task. py-spy on a plain-path child showed the GET costing as much as the SET. Here
one Lua script does the same check and write atomically in Redis (no window between read and
write), and still PUBLISHes, so Celery clients waiting with ``result.get()`` are told at once.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError
from kombu.utils.encoding import bytes_to_str

#: KEYS[1] the result key; ARGV[1] the encoded meta, ARGV[2] seconds to keep it (0: forever).
#: Writes unless the stored result decodes as JSON with status SUCCESS; returns 1 if it wrote.
STORE_UNLESS_SUCCESS = """
local current = redis.call('GET', KEYS[1])
if current then
  local ok, meta = pcall(cjson.decode, current)
  if ok and type(meta) == 'table' and meta['status'] == 'SUCCESS' then
    return 0
  end
end
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('SETEX', KEYS[1], ttl, ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], ARGV[1])
return 1
"""


class StoreOnceRedisBackend(RedisBackend):
    """The worker's result backend: Celery's, with :data:`STORE_UNLESS_SUCCESS` as the write."""

    def __init__(self, app: Celery, url: str | None = None, **kwargs: Any) -> None:
        super().__init__(app=app, url=url or app.conf.result_backend, **kwargs)
        self._store_script: Any = None

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: Any = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        this: Any = self  # celery-types lacks these attributes of Celery's backends
        meta = this._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)
        value = self.encode(meta)
        if isinstance(value, str | bytes) and len(value) > this._MAX_STR_VALUE_SIZE:
            raise BackendStoreError(  # type: ignore[call-arg]
                "value too large for Redis backend", state=state, task_id=task_id
            )
        expires = this.failure_expires if state == states.FAILURE else this.expires
        self.ensure(self._store_once, (self.get_key_for_task(task_id), value, expires))
        return result

    def _store_once(self, key: str, value: Any, expires: Any) -> None:
        if self._store_script is None:  # EVALSHA, loading the script again after a restart
            self._store_script = self.client.register_script(STORE_UNLESS_SUCCESS)
        if hasattr(expires, "total_seconds"):
            expires = expires.total_seconds()
        seconds = int(expires or 0)
        self._store_script(keys=[key], args=[value, seconds])
