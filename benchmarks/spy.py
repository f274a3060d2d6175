"""Where the map path's time goes: py-spy on the producer and each worker child during one run,
folded stacks written under ``benchmarks/results/`` and the top leaf functions printed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Samples per second; low enough that py-spy itself takes little of a 2-core machine.
RATE = 200


def profile(
    pids: dict[str, int], body: Callable[[], Any], out_dir: Path, stem: str, top: int = 8
) -> dict[str, Any]:
    """Run ``body`` under ``py-spy record`` of every process in ``pids`` (name -> PID)."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if spy is None:
        return {"profile": "py-spy is missing (pip install -e '.[bench]')"}
    out_dir.mkdir(parents=True, exist_ok=True)
    running = {}
    for name, pid in pids.items():
        path = out_dir / f"{stem}-{name}.folded"
        cmd = [spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE),
               "--nonblocking", "--output", str(path)]  # fmt: skip
        running[name] = (subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
                         path)  # fmt: skip
    try:
        body()
    finally:
        for proc, _ in running.values():
            proc.send_signal(2)  # SIGINT: py-spy writes what it has and exits
    found: dict[str, Any] = {}
    for name, (proc, path) in running.items():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        found[name] = top_leaves(path, top) if path.exists() else "no samples (ptrace refused?)"
    return {"profile (share of samples by leaf function)": found}


def top_leaves(path: Path, top: int) -> list[str]:
    """The functions most samples ended in, with their share, from py-spy's folded stacks."""
    leaves: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            leaves[stack.rsplit(";", 1)[-1]] += int(count)
    total = sum(leaves.values()) or 1
    return [f"{100 * n / total:.0f}% {leaf}" for leaf, n in leaves.most_common(top)]
