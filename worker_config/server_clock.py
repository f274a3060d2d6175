"""The Redis server's clock, for every lease score we write or compare.

kombu scores a delivered task in ``unacked_index`` with the worker's own ``time()``, and every
worker's consumer puts back the tasks whose score is older than the visibility timeout by its
own ``time()``. With one worker's clock 30 s behind, its tasks look 30 s old the moment it takes
them, and another worker runs them again. Scores written and compared with the Redis server's
clock (``TIME``) are the same for every worker, whatever its clock says.

Bound: scripts read ``TIME`` inside Redis (exact). Where kombu writes the score from the client
(:class:`OffsetClock`), the worker's clock is corrected by an offset measured with ``TIME`` at
most :data:`REFRESH_SECONDS` ago, so its error is one round trip plus whatever the local clock
stepped in that time; a steady skew of any size is cancelled.
"""

from __future__ import annotations

import threading
import time
from typing import Any

#: Seconds an offset between the local and the server clock is trusted before it is measured again.
REFRESH_SECONDS = 1.0

#: Lua: the server's time in seconds, as a float.
NOW_LUA = "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) + tonumber(t[2]) / 1000000\n"

#: Sets the score of each member ARGV[...] of KEYS[1] that is already there (``ZADD XX CH``) to
#: the server's time; returns how many changed.
RENEW_SCRIPT = (
    NOW_LUA
    + """local changed = 0
for i = 1, #ARGV do
  changed = changed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[i])
end
return changed
"""
)


def server_now(client: Any) -> float:
    """The Redis server's time, in seconds since the epoch."""
    seconds, micros = client.time()
    return float(seconds) + float(micros) / 1_000_000


class OffsetClock:
    """``time.time()`` corrected to the server's clock, measuring the offset once per second."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._measured_at = float("-inf")
        self._lock = threading.Lock()

    def now(self, client: Any) -> float:
        with self._lock:
            if time.monotonic() - self._measured_at > REFRESH_SECONDS:
                before = time.time()
                server = server_now(client)
                after = time.time()
                self._offset = server - (before + after) / 2
                self._measured_at = time.monotonic()
            return time.time() + self._offset
