"""Readiness and liveness as files the worker writes, so a probe costs a file read, not a broker
round trip: ``celery inspect ping`` costs seconds of CPU and floods Redis (celery#4079).

Under ``MODELFLEET_STATE_DIR/<node name>/`` each pool child leaves ``loaded-<pid>`` once its models
are loaded, and the parent rewrites ``state.json`` every ``HEARTBEAT_SECONDS`` from its event loop
(``celery_ext/steps.py``): *alive* while that heartbeat is fresh, *ready* once every current child
has its marker. ``records/health.py`` reads them. The handlers here are connected by
``lifecycle.py``; importing this module connects nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from worker_config.errors import ConfigError
from worker_config.records.health import STATE_FILE, node_dir, unsafe_state_dir
from worker_config.routing import worker_queues
from worker_config.runtime.state import current
from worker_config.settings import get_settings

#: Seconds between the parent's heartbeats.
HEARTBEAT_SECONDS = 2.0


def start_fresh(**_: Any) -> None:
    """``worker_init``: an empty node directory, and a first heartbeat with no children yet."""
    state = current()
    state_dir = get_settings().state_dir
    try:
        private_dir(state_dir)
    except ConfigError as exc:  # like a bad setting: exit at once, before any child starts
        print(f"modelfleet: {exc}", file=sys.stderr)
        raise SystemExit(os.EX_CONFIG) from None
    state.node_dir = node_dir(state_dir, state.hostname)
    shutil.rmtree(state.node_dir, ignore_errors=True)
    state.node_dir.mkdir(mode=0o700)
    _write_state(children=[], loaded=[])


def private_dir(path: Path) -> None:
    """Create ``path`` 0700 if missing; refuse one that is a symlink, another user's or writable
    by others (the default under ``$TMPDIR`` is a name any user can take first)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    problem = unsafe_state_dir(path)
    if problem:
        raise ConfigError(
            f"unsafe MODELFLEET_STATE_DIR: {problem}; remove it or point MODELFLEET_STATE_DIR "
            "at a directory only this user can write"
        )


def mark_child_loaded(**_: Any) -> None:
    """``worker_process_init``, last: this child is ready to serve."""
    folder = current().node_dir
    if folder is not None:
        (folder / f"loaded-{os.getpid()}").touch()


def beat(pool_info: dict[str, Any], consuming: list[str] | None = None) -> None:
    """One heartbeat of the parent: its live children, which of them have loaded, and which of
    its queues it consumes (``cancel_consumer`` leaves a worker alive but idle: not ready)."""
    children = [int(p) for p in pool_info.get("processes", [])]
    loaded = []
    folder = current().node_dir
    if folder is not None:
        for marker in folder.glob("loaded-*"):
            pid = int(marker.name.removeprefix("loaded-"))
            if pid in children:
                loaded.append(pid)
            else:  # a child that was replaced
                marker.unlink(missing_ok=True)
    _write_state(children=children, loaded=sorted(loaded), consuming=consuming)


def remove_state(**_: Any) -> None:
    """``worker_shutdown``: a stopped worker leaves no files that could look alive."""
    folder = current().node_dir
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _write_state(
    children: list[int], loaded: list[int], consuming: list[str] | None = None
) -> None:
    folder = current().node_dir
    if folder is None:
        return
    queues = worker_queues(get_settings())
    state = {
        "queues": queues,
        "consuming": queues if consuming is None else sorted(consuming),
        "pid": os.getpid(),
        "heartbeat": time.time(),
        "children": children,
        "loaded": loaded,
        "ready": bool(children) and set(children) <= set(loaded),
    }
    tmp = folder / f".{STATE_FILE}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(json.dumps(state))
    tmp.replace(folder / STATE_FILE)  # atomic: a probe never reads half a file
