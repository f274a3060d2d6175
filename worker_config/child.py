"""The model each pool child holds: loaded once in ``worker_process_init``, reused by every task."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

import redis

from worker_config.errors import ModelLoadError
from worker_config.inference import Predictor
from worker_config.plugins import resolve_model, resolve_source
from worker_config.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds the child registry keys live in Redis after the last child loaded.
REGISTRY_TTL = 7 * 86_400


@dataclass
class Loaded:
    predictor: Predictor
    load_seconds: float


_loaded: Loaded | None = None


def load(settings: Settings) -> Loaded:
    """Load the model and input source into this process, once; later calls return the same."""
    global _loaded
    if _loaded is not None:
        return _loaded
    start = time.perf_counter()
    with _deadline(settings.model_load_timeout):
        try:
            model = resolve_model(settings.model)(settings)
            source = resolve_source(settings.source)(settings)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"model {settings.model!r} with source {settings.source!r} failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    _limit_threads(settings.threads_per_child)
    _loaded = Loaded(Predictor(model, source, settings.max_batch), time.perf_counter() - start)
    logger.info(
        "child %d loaded model %s version %s in %.2fs",
        os.getpid(),
        model.name,
        model.version,
        _loaded.load_seconds,
    )
    return _loaded


def current(settings: Settings) -> Predictor:
    """This process's predictor; loads it here if no ``worker_process_init`` did (solo pool)."""
    return load(settings).predictor


def registry_keys(settings: Settings, hostname: str) -> tuple[str, str]:
    """Redis hashes that record, per worker, each child's model and how often it loaded."""
    base = f"{settings.key_prefix}worker:{hostname}"
    return f"{base}:children", f"{base}:loads"


def register(settings: Settings, hostname: str, loaded: Loaded) -> None:
    """Record this child's load where ``modelfleet status`` and the demo can see it."""
    children, loads = registry_keys(settings, hostname)
    model = loaded.predictor.model
    record = {
        "model": model.name,
        "version": model.version,
        "load_seconds": round(loaded.load_seconds, 3),
        "loaded_at": time.time(),
    }
    pid = str(os.getpid())
    try:
        client = redis.Redis.from_url(settings.result_backend, socket_timeout=5)
        with client.pipeline() as pipe:
            pipe.hset(children, pid, json.dumps(record))
            pipe.hincrby(loads, pid, 1)
            pipe.expire(children, REGISTRY_TTL)
            pipe.expire(loads, REGISTRY_TTL)
            pipe.execute()
        client.close()
    except redis.RedisError as exc:  # serving matters more than bookkeeping
        logger.warning("could not record the model load in Redis: %s", exc)


def _limit_threads(threads: int) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # signals need the main thread
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise ModelLoadError(
            f"model load took longer than {seconds:g}s; raise MODELFLEET_MODEL_LOAD_TIMEOUT"
        )

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
