"""Retrying a write to the result backend while it is down, full or read-only, for a bound."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from celery.exceptions import BackendStoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Errors of a backend that may answer later: down, refusing writes (OOM, READONLY), loading.
STORE_ERRORS: tuple[type[BaseException], ...] = (redis.RedisError, OSError, BackendStoreError)
#: First and largest pause between attempts, in seconds.
FIRST_PAUSE, MAX_PAUSE = 0.2, 2.0


def retry_store(store: Callable[[], T], budget: float, what: str) -> T:
    """``store()``, retried on backend errors for up to ``budget`` seconds; then the last error."""
    deadline = time.monotonic() + budget
    pause = FIRST_PAUSE
    attempt = 1
    while True:
        try:
            return store()
        except STORE_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                raise
            if attempt == 1:
                logger.warning(
                    "could not store %s (%s: %s); retrying for up to %.0fs",
                    what,
                    type(exc).__name__,
                    exc,
                    budget,
                )
        time.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(MAX_PAUSE, pause * 2)
        attempt += 1
