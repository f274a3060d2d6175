"""Input source for other apps: each input is stored as JSON under ``<prefix><id>`` in Redis."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from worker_config import clients
from worker_config.errors import InputTooLarge, InvalidInput, ItemError, UnknownInput

if TYPE_CHECKING:
    from worker_config.contract import InputId
    from worker_config.settings import Settings


#: For each key: its string value if at most ARGV[1] bytes, else ``{size}`` (not read), or nil
#: when absent or not a string. Sizes are checked in Redis, so an oversize input never travels.
FETCH_SCRIPT = """
local out = {}
local limit = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  if redis.call('TYPE', key)['ok'] ~= 'string' then
    out[i] = false
  else
    local size = redis.call('STRLEN', key)
    if size > limit then out[i] = {size} else out[i] = redis.call('GET', key) end
  end
end
return out
"""


class RedisSource:
    """Reads a batch of inputs in one script: each distinct key once, none over the size limit.

    A batch may name the same ID many times (one 50 MB input 20 times took a child to 5.4 GB):
    each distinct input is read and decoded once, and one larger than
    ``MODELFLEET_MAX_INPUT_BYTES`` is answered ``InputTooLarge`` without being read.
    """

    def __init__(self, settings: Settings) -> None:
        self._client = clients.for_url(settings, settings.input_url)
        self._prefix = settings.input_prefix
        self._max_bytes = settings.max_input_bytes
        self._fetch = self._client.register_script(FETCH_SCRIPT)

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        if not ids:
            return []
        keys = list(dict.fromkeys(f"{self._prefix}{input_id}" for input_id in ids))
        values = self._fetch(keys=keys, args=[self._max_bytes])
        decoded = {key: self._decode(key, v) for key, v in zip(keys, values, strict=True)}
        return [decoded[f"{self._prefix}{input_id}"] for input_id in ids]

    def _decode(self, key: str, value: bytes | str | list[int] | None) -> Any | ItemError:
        if isinstance(value, list):
            return InputTooLarge(
                f"input under {key} is {value[0]} bytes, more than MODELFLEET_MAX_INPUT_BYTES "
                f"({self._max_bytes}); store a smaller input or raise the limit on the workers"
            )
        if value is None:
            return UnknownInput(f"no input stored under {key}")
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested too deep
            reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            return InvalidInput(f"input under {key} is {reason}: {type(exc).__name__}")
