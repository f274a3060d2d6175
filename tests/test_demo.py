"""`make demo` from the outside: it brings its own Redis and worker, and leaves nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _descendants_alive(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline:
                found.append(cmdline)
    return found


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_demo_predicts_every_digit_and_stops_everything_it_started(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
    env["MODELFLEET_CACHE_DIR"] = str(tmp_path / "cache")
    env["TMPDIR"] = str(tmp_path)  # the demo's Redis data dir and worker log go under here
    done = subprocess.run(
        [sys.executable, "-m", "producer", "demo"],
        env=env, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "items:     1797" in done.stdout
    assert "errors:    0" in done.stdout
    assert "model loads per child" in done.stdout and ": 2" not in done.stdout
    assert _descendants_alive(str(tmp_path)) == []
    # Nothing left in $TMPDIR (Redis data, worker log, probe and metrics files) but the cache.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]
    # Not a terminal: progress comes as plain lines, the last one complete.
    assert "predicting: 1797/1797 (100%)" in done.stderr.splitlines()
