"""The model each pool child holds: loaded once in ``worker_process_init``, reused by every task."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from worker_config import routing
from worker_config.errors import ModelLoadError, ModelNotServed
from worker_config.plugins import resolve_model, resolve_source
from worker_config.records import registry
from worker_config.runtime import state
from worker_config.runtime.inference import Predictor
from worker_config.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Loaded:
    predictor: Predictor
    load_seconds: float


def load(settings: Settings, name: str | None = None) -> Loaded:
    """Load one served model (default: the default model) into this process, once."""
    name = name or routing.primary_model(settings)
    models = state.current().models
    if name not in models:
        models[name] = build(settings, name)
    return models[name]


def build(settings: Settings, name: str) -> Loaded:
    """Load a served model afresh, without replacing the one in use (reload.py swaps it in)."""
    models = routing.served_models(settings)
    if name not in models:
        raise ModelNotServed(
            f"this worker serves {', '.join(models)}, not {name!r}; set MODELFLEET_MODEL"
        )
    start = time.perf_counter()
    with _deadline(settings.model_load_timeout):
        try:
            model = resolve_model(models[name])(settings)
            source = resolve_source(settings.source)(settings)
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"model {models[name]!r} with source {settings.source!r} failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    _limit_threads(settings.threads_per_child)
    loaded = Loaded(Predictor(model, source, settings.max_batch), time.perf_counter() - start)
    logger.info(
        "child %d loaded model %s version %s in %.2fs",
        os.getpid(),
        model.name,
        model.version,
        loaded.load_seconds,
    )
    if getattr(model, "name", name) != name:  # producers send to the queue of `name`
        logger.warning(
            "model %r calls itself %r but is served as %r on queue %r; to use its own name, "
            "declare `name = %r` on the factory %s or set MODELFLEET_MODEL=%s=%s",
            models[name], model.name, name, routing.model_queue(settings, name),
            model.name, models[name], model.name, models[name],
        )  # fmt: skip
    return loaded


def replace(name: str, loaded: Loaded) -> None:
    """Serve ``loaded`` as ``name`` from the next task on; the running task keeps the old one."""
    state.current().models[name] = loaded


def loaded_models() -> list[Loaded]:
    """The models this process serves now."""
    return list(state.current().models.values())


def details() -> dict[str, Any]:
    """What the models report about themselves (e.g. torch threads), for the worker registry."""
    facts: dict[str, Any] = {}
    for loaded in state.current().models.values():
        facts.update(getattr(loaded.predictor.model, "details", None) or {})
    return facts


def current(settings: Settings, name: str | None = None) -> Predictor:
    """This process's predictor; loads it here if no ``worker_process_init`` did (solo pool)."""
    return load(settings, name).predictor


def register(settings: Settings, hostname: str, *loaded: Loaded) -> None:
    """Record this child's load (of one model or several) where ``modelfleet status`` sees it."""
    models = [one.predictor.model for one in loaded]
    record = {
        "model": ", ".join(m.name for m in models),
        "version": ", ".join(m.version for m in models),
        "load_seconds": round(sum(one.load_seconds for one in loaded), 3),
        "loaded_at": time.time(),
    }
    registry.record_load(settings, hostname, record)


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
