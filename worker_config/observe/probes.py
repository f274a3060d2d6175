"""Readiness and liveness as files the worker writes, so a probe costs a file read, not a broker
round trip: ``celery inspect ping`` costs seconds of CPU and floods Redis (celery#4079).

Under ``MODELFLEET_STATE_DIR/<node name>/`` each pool child leaves ``loaded-<pid>`` once its models
are loaded, and the parent rewrites ``state.json`` every ``HEARTBEAT_SECONDS`` from its event loop:
*alive* while that heartbeat is fresh, *ready* once every current child has its marker.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery.signals import worker_init, worker_process_init, worker_ready, worker_shutdown

# Imported first so that its handlers (which load the model) run before ours.
from worker_config import lifecycle  # noqa: F401
from worker_config.settings import get_settings

#: Seconds between the parent's heartbeats.
HEARTBEAT_SECONDS = 2.0
#: A heartbeat older than this many seconds means the parent's event loop is stuck or gone.
DEFAULT_MAX_AGE = 15.0
STATE_FILE = "state.json"

_node_dir: Path | None = None


def node_dir(state_dir: Path, hostname: str) -> Path:
    """The directory of one worker (node name ``name@host``) under the state directory."""
    return state_dir / hostname.replace("/", "_")


@worker_init.connect
def _start_fresh(sender: Any = None, **_: Any) -> None:
    global _node_dir
    _node_dir = node_dir(get_settings().state_dir, getattr(sender, "hostname", "celery"))
    shutil.rmtree(_node_dir, ignore_errors=True)
    _node_dir.mkdir(parents=True, exist_ok=True)
    _write_state(children=[], loaded=[])


@worker_process_init.connect
def _mark_child_loaded(**_: Any) -> None:
    if _node_dir is not None:
        (_node_dir / f"loaded-{os.getpid()}").touch()


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **_: Any) -> None:
    def beat() -> None:
        info = sender.pool.info if sender.pool is not None else {}
        children = [int(p) for p in info.get("processes", [])]
        loaded = []
        if _node_dir is not None:
            for marker in _node_dir.glob("loaded-*"):
                pid = int(marker.name.removeprefix("loaded-"))
                if pid in children:
                    loaded.append(pid)
                else:  # a child that was replaced
                    marker.unlink(missing_ok=True)
        _write_state(children=children, loaded=sorted(loaded))

    beat()
    sender.timer.call_repeatedly(HEARTBEAT_SECONDS, beat)


@worker_shutdown.connect
def _remove_state(**_: Any) -> None:
    if _node_dir is not None:
        shutil.rmtree(_node_dir, ignore_errors=True)


def _write_state(children: list[int], loaded: list[int]) -> None:
    if _node_dir is None:
        return
    state = {
        "pid": os.getpid(),
        "heartbeat": time.time(),
        "children": children,
        "loaded": loaded,
        "ready": bool(children) and set(children) <= set(loaded),
    }
    tmp = _node_dir / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state))
    tmp.replace(_node_dir / STATE_FILE)  # atomic: a probe never reads half a file


@dataclass
class ProbeResult:
    ok: bool
    message: str


def check(state_dir: Path, what: str, max_age: float = DEFAULT_MAX_AGE) -> ProbeResult:
    """``alive``: every worker heartbeats; ``ready``: also every child has loaded its model."""
    states = sorted(state_dir.glob(f"*/{STATE_FILE}")) if state_dir.is_dir() else []
    if not states:
        return ProbeResult(False, f"no worker state under {state_dir} (is MODELFLEET_STATE_DIR?)")
    lines, ok = [], True
    for path in states:
        node = path.parent.name
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            ok = False
            lines.append(f"{node}: unreadable state ({exc})")
            continue
        age = time.time() - float(state["heartbeat"])
        if age > max_age:
            ok = False
            lines.append(f"{node}: not alive, last heartbeat {age:.0f}s ago (limit {max_age:g}s)")
        elif what == "ready" and not state["ready"]:
            ok = False
            lines.append(
                f"{node}: not ready, {len(state['loaded'])} of {len(state['children'])} "
                "children have loaded the model"
            )
        else:
            lines.append(f"{node}: {what} ({len(state['children'])} children)")
    return ProbeResult(ok, "\n".join(lines))
