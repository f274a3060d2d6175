"""Reading the probe files a worker writes (``observe/probes.py``): what ``modelfleet probe`` does.

Kept apart from the writer so that a probe, run every few seconds by Kubernetes, imports no worker
code: no Celery signals, no model plug-ins, only the file layout and its reading.
"""

from __future__ import annotations

import json
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

#: A heartbeat older than this many seconds means the parent's event loop is stuck or gone.
DEFAULT_MAX_AGE = 15.0
#: Seconds a heartbeat may lie in the future (same machine: clock steps only) before it is
#: taken for a forged or stale stamp, which could otherwise pass for a dead worker.
MAX_FUTURE = 5.0
#: The file the worker parent rewrites on each heartbeat, under its node directory.
STATE_FILE = "state.json"


def node_dir(state_dir: Path, hostname: str) -> Path:
    """The directory of one worker (node name ``name@host``) under the state directory."""
    return state_dir / hostname.replace("/", "_")


@dataclass
class ProbeResult:
    ok: bool
    message: str


def unsafe_state_dir(state_dir: Path) -> str | None:
    """Why ``state_dir`` cannot be trusted, or None: it must be a real directory (not a
    symlink), owned by this user (or root), writable by nobody else. Another user who plants
    ``$TMPDIR/modelfleet`` could otherwise read our files or fake a heartbeat."""
    try:
        info = os.lstat(state_dir)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        return f"{state_dir} is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return f"{state_dir} is not a directory"
    if info.st_uid not in (os.geteuid(), 0):
        return f"{state_dir} belongs to another user (uid {info.st_uid})"
    if info.st_mode & 0o022:
        return f"{state_dir} is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    return None


def check(state_dir: Path, what: str, max_age: float = DEFAULT_MAX_AGE) -> ProbeResult:
    """``alive``: every worker heartbeats; ``ready``: also every child has loaded its model and
    the worker consumes its queues."""
    problem = unsafe_state_dir(state_dir)
    if problem:
        return ProbeResult(False, f"unsafe state directory: {problem}; set MODELFLEET_STATE_DIR")
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
        idle = sorted(set(state.get("queues", [])) - set(state.get("consuming", [])))
        if age > max_age:
            ok = False
            lines.append(f"{node}: not alive, last heartbeat {age:.0f}s ago (limit {max_age:g}s)")
        elif age < -MAX_FUTURE:
            ok = False
            lines.append(f"{node}: not alive, heartbeat stamped {-age:.0f}s in the future")
        elif what == "ready" and idle:
            ok = False
            lines.append(f"{node}: not ready, not consuming queue(s) {', '.join(idle)}")
        elif what == "ready" and not state["ready"]:
            ok = False
            lines.append(
                f"{node}: not ready, {len(state['loaded'])} of {len(state['children'])} "
                "children have loaded the model"
            )
        else:
            lines.append(f"{node}: {what} ({len(state['children'])} children)")
    return ProbeResult(ok, "\n".join(lines))
