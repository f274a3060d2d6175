"""Rolling model reload: new model files or versions without stopping the fleet.

The worker parent gets a remote-control command (``modelfleet_reload``, sent by ``modelfleet
reload``; Celery's ``pool_restart``, which Flower's ``POST /api/worker/pool/restart/<worker>``
sends, does the same) and posts the request on a board that its children share. Each child's
watcher thread loads the new model beside the old one, one child at a time, then swaps it in
between two tasks: the task running meanwhile finishes on the old version, no task waits for the
load, and every result names the version that produced it. A version that fails to load is
reported (log, ``modelfleet status``) and the old one keeps serving.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

from worker_config.records import registry
from worker_config.routing import served_models
from worker_config.runtime import child
from worker_config.runtime.board import Board, State
from worker_config.runtime.state import current
from worker_config.settings import Settings, get_settings

logger = logging.getLogger(__name__)

#: Seconds between a child's looks at the board.
POLL_SECONDS = 0.2


def board() -> Board:
    """This worker's board, made by the parent in ``worker_init`` so that children share it."""
    return current().board


def request(model_path: str | None = None, model: str | None = None) -> int:
    """Post a reload of ``model`` (default: every served one), optionally from a new file."""

    def change(state: State) -> None:
        state["generation"] += 1
        state["target"] = {"model_path": model_path, "model": model}

    generation: int = board().update(change)["generation"]
    logger.info(
        "modelfleet: reload generation %d requested (model %s, path %s)",
        generation,
        model or "all",
        model_path or "unchanged",
    )
    return generation


def effective_settings(settings: Settings) -> Settings:
    """Settings with the last reload that loaded well applied, for children started later."""
    good = board().read().get("good") or {}
    if good.get("model_path"):
        return settings.model_copy(update={"model_path": Path(good["model_path"])})
    return settings


def start_watcher(settings: Settings, hostname: str, details: dict[str, Any]) -> None:
    """In a pool child: note what it serves, then follow reload requests in the background."""
    seen = int(board().read()["generation"])
    _note(settings, hostname, generation=seen, reload_error=None, details=details)
    thread = threading.Thread(
        target=_watch, args=(settings, hostname, seen), name="modelfleet-reload", daemon=True
    )
    thread.start()


def _watch(settings: Settings, hostname: str, seen: int) -> None:
    while True:
        time.sleep(POLL_SECONDS)
        try:
            if board().read()["generation"] > seen:
                seen = _reload(settings, hostname)
        except Exception:  # the watcher must outlive any surprise, or reloads stop silently
            logger.exception("modelfleet: reload watcher error")


def _reload(settings: Settings, hostname: str) -> int:
    slot = board().load_slot
    # A child that died holding the slot must not block the others forever.
    got_slot = slot.acquire(timeout=settings.model_load_timeout)
    try:
        state = board().read()  # the newest request, if more came while we waited
        generation = int(state["generation"])
        failed = state.get("failed") or {}
        if failed.get("generation") == generation:  # another child found it broken
            _note(settings, hostname, reload_error=failed)
            return generation
        target = state.get("target") or {}
        try:
            fresh = _load(settings, target)
        except Exception as exc:
            error = {"generation": generation, "message": str(exc)}
            logger.error(
                "modelfleet: reload generation %d failed, still serving the old version: %s",
                generation,
                exc,
            )
            board().update(lambda s: s.update(failed=error))
            _note(settings, hostname, reload_error=error)
            return generation
        for name, loaded in fresh.items():
            child.replace(name, loaded)
        board().update(lambda s: _mark_good(s, generation, target))
        child.register(settings, hostname, *child.loaded_models())
        _note(
            settings,
            hostname,
            generation=generation,
            reload_error=None,
            details=child.details(),
        )
        return generation
    finally:
        if got_slot:
            slot.release()


def _load(settings: Settings, target: dict[str, Any]) -> dict[str, child.Loaded]:
    """Load the target in a helper thread, giving up after ``MODELFLEET_MODEL_LOAD_TIMEOUT``.

    A path that is a FIFO or a device is refused before anything opens it (opening a FIFO blocks
    until a writer comes); any other load that hangs costs that thread, never later reloads.
    """
    if target.get("model_path"):
        settings = settings.model_copy(update={"model_path": Path(target["model_path"])})
    if settings.model_path is not None:
        _check_loadable(settings.model_path)
    names = [target["model"]] if target.get("model") else list(served_models(settings))
    outcome: dict[str, Any] = {}

    def load() -> None:
        try:
            outcome["models"] = {name: child.build(settings, name) for name in names}
        except BaseException as exc:  # handed to the watcher thread below
            outcome["error"] = exc

    loader = threading.Thread(target=load, name="modelfleet-reload-load", daemon=True)
    loader.start()
    loader.join(settings.model_load_timeout)
    if loader.is_alive():
        raise TimeoutError(
            f"loading took longer than MODELFLEET_MODEL_LOAD_TIMEOUT "
            f"({settings.model_load_timeout:g}s); check the model path, or raise the timeout"
        )
    if "error" in outcome:
        raise outcome["error"]
    loaded: dict[str, child.Loaded] = outcome["models"]
    return loaded


def _check_loadable(path: Path) -> None:
    """Refuse a path that is neither a regular file nor a directory, without opening it."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise FileNotFoundError(f"cannot load the model from {path}: {exc.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(
            f"cannot load the model from {path}: not a regular file or directory "
            "(a FIFO, socket or device); point --model-path at the weights file"
        )


def _mark_good(state: State, generation: int, target: dict[str, Any]) -> None:
    good = state.get("good") or {}
    if generation > good.get("generation", 0):
        model_path = target.get("model_path") or good.get("model_path")
        state["good"] = {"generation": generation, "model_path": model_path}


def _note(settings: Settings, hostname: str, **fields: Any) -> None:
    """Add ``fields`` to this child's record in the worker registry (``modelfleet status``)."""
    registry.note(settings, hostname, **fields)


def current_settings() -> Settings:
    """The settings a child loads with now: the environment's, plus a reload that succeeded."""
    return effective_settings(get_settings())
