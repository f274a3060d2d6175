"""The table, the targets of issue 5, and the files under ``benchmarks/results/``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.measure import Row
from producer.local.embedded_redis import redis_server_binary

#: The baseline every row is compared with: the seed's pool over ID batches.
PPE_BATCHES = "ProcessPoolExecutor({}) 64-ID batches"


def machine_facts(children: int) -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    redis_version = subprocess.run(
        [redis_server_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    packages = ("celery", "kombu", "redis", "numpy", "scikit-learn", "billiard")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "children": children,
        "python": platform.python_version(),
        "packages": {p: version(p) for p in packages},
        "redis_server": redis_version,
        "load_average_before": os.getloadavg(),
    }


def header(facts: dict[str, Any]) -> str:
    packages = " ".join(f"{k} {v}" for k, v in facts["packages"].items())
    return (
        f"modelfleet benchmark {facts['date']}\n"
        f"machine: {facts['cpu']}, {facts['cores']} cores; {facts['children']} children/workers\n"
        f"python {facts['python']}; {packages}; {facts['redis_server']}\n"
        f"load average before: {' '.join(f'{x:.2f}' for x in facts['load_average_before'])}"
    )


def table(workload: str, rows: list[Row], extra: dict[str, Any]) -> str:
    serial = next((r for r in rows if r.config == "serial loop"), None)
    ppe = next((r for r in rows if "64-ID" in r.config), None)
    stock = next((r for r in rows if r.config.startswith("stock Celery")), None)
    head = (
        f"{'configuration':44} {'n':>6} {'inputs/s':>10} {'x serial':>8} {'x PPE':>6} "
        f"{'x stock':>7} {'prod ms':>7} {'redis ms':>8} {'work ms':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8} ok"
    )
    lines = [f"\n== workload {workload} ==", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.config:44} {r.n:>6} {r.per_second:>10,.0f} "
            f"{_ratio(r, serial):>8} {_ratio(r, ppe):>6} {_ratio(r, stock):>7} "
            f"{r.producer_ms:>7.3f} {r.redis_ms:>8.3f} {r.worker_ms:>7.3f} "
            f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {'yes' if r.ok else 'NO'}"
        )
    lines.append("(CPU columns: CPU-ms per input of producer, Redis, workers; latency: from the")
    lines.append(" start of the run to the item reaching the producer; inputs/s: median of runs)")
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


def _ratio(row: Row, base: Row | None) -> str:
    return f"{row.per_second / base.per_second:.2f}" if base else "-"


def targets(rows: list[Row], extras: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    out: list[tuple[str, bool | None, str]] = []
    by = {(r.workload, r.config): r for r in rows}
    # map against the process pool: benchmarks/batch_rows.py (issue 12's targets)
    each = by.get(("forest", "modelfleet per-ID tasks, micro-batched"))
    stock = by.get(("forest", "stock Celery, one task per ID"))
    if each and stock:
        ratio = each.per_second / stock.per_second
        out.append(
            ("2. per-ID micro-batched >= 5x stock Celery (forest)", ratio >= 5, f"{ratio:.1f}x")
        )
    digits = extras.get("digits", {})
    ours = digits.get("idle latency: modelfleet per ID, micro-batched")
    theirs = digits.get("idle latency: stock Celery per ID")
    if ours and theirs:
        gap = ours[0] - theirs[0]
        out.append(("2. idle single-ID p50 within 1 ms of stock", gap <= 1.0, f"{gap:+.2f} ms"))
    for workload in dict.fromkeys(r.workload for r in rows):
        stock = by.get((workload, "stock Celery, one task per ID"))
        for config in ("modelfleet per-ID tasks, no micro-batching",
                       "modelfleet per-ID tasks, micro-batched"):  # fmt: skip
            ours_row = by.get((workload, config))
            if stock and ours_row:
                a, b = _overhead(ours_row, workload, by), _overhead(stock, workload, by)
                out.append((
                    f"3. CPU/task <= half stock ({workload}, {config.split('tasks, ')[1]})",
                    a <= b / 2, f"{a:.2f} vs {b:.2f} ms",
                ))  # fmt: skip
    if "enqueue_map_s" in digits:
        n, seconds, tasks = digits["enqueue_map_s"]
        out.append(
            (
                f"4. {n:,} IDs enqueued in < 5 s (map, {tasks} tasks)",
                seconds < 5,
                f"{seconds:.2f} s",
            )
        )
        n, seconds, _ = digits["enqueue_each_s"]
        out.append((f"4. {n:,} IDs enqueued one task per ID", seconds < 5, f"{seconds:.2f} s"))
    if "read_back" in digits:
        rb = digits["read_back"]
        out.append(("4. read-back round trips per task < 1", rb["mget_calls"] < rb["tasks"],
                    f"{rb['mget_calls']} MGETs for {rb['tasks']} tasks"))  # fmt: skip
    for workload, extra in extras.items():
        if "cold_start_s" in extra:
            # The parent imports the children's libraries before the fork: that is load time
            # too, which the children's own figure no longer holds.
            load = extra["model_load_s"] + extra.get("preload_s", 0.0)
            gap = extra["cold_start_s"] - load
            figure = (
                f"{extra['cold_start_s']:.2f} s = load {extra['model_load_s']:.2f} + "
                f"preloaded imports {extra.get('preload_s', 0.0):.2f} + {gap:.2f}"
            )
            out.append((f"5. cold start <= model load + 1 s ({workload})", gap <= 1.0, figure))
    return out


def _overhead(row: Row, workload: str, by: dict[tuple[str, str], Row]) -> float:
    """CPU-ms per input of worker + producer + Redis, model included (issue 5, target 3)."""
    return row.producer_ms + row.redis_ms + row.worker_ms


def verdict_text(verdicts: list[tuple[str, bool | None, str]], facts: dict[str, Any]) -> str:
    lines = ["\n== targets (issue 5) =="]
    for name, met, figure in verdicts:
        lines.append(f"{'MET ' if met else 'GAP '} {name}: {figure}")
    after = " ".join(f"{x:.2f}" for x in facts["load_average_after"])
    lines.append(f"load average after: {after}")
    return "\n".join(lines)


def write(
    *,
    directory: Path,
    stem: str,
    facts: dict[str, Any],
    rows: list[Row],
    extras: dict[str, Any],
    verdicts: list[tuple[str, bool | None, str]],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "facts": facts,
        "rows": [r.as_dict() for r in rows],
        "extras": extras,
        "targets": [{"target": n, "met": m, "figure": f} for n, m, f in verdicts],
    }
    (directory / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    text = [header(facts)]
    for workload in dict.fromkeys(r.workload for r in rows):
        text.append(
            table(workload, [r for r in rows if r.workload == workload], extras.get(workload, {}))
        )
    text.append(verdict_text(verdicts, facts))
    (directory / f"{stem}.txt").write_text("\n".join(text) + "\n")
    try:
        chart(directory, stem, rows)
    except ImportError:
        print("matplotlib is missing (pip install -e '.[bench]'): no charts")


def chart(directory: Path, stem: str, rows: list[Row]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"baseline": "#999999", "modelfleet": "#1f77b4", "stock Celery": "#d62728",
               "celery-batches": "#ff7f0e", "scaling": "#9ecae1"}  # fmt: skip
    for workload in dict.fromkeys(r.workload for r in rows):
        mine = [r for r in rows if r.workload == workload]
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(mine) + 1.2), dpi=80)
        ax.barh([r.config for r in mine], [r.per_second for r in mine],
                color=[colours.get(r.group, "#333333") for r in mine])  # fmt: skip
        ax.set_xscale("log")
        ax.invert_yaxis()
        ax.set_xlabel("inputs per second (log scale, median of runs)")
        ax.set_title(f"modelfleet benchmark: {workload}")
        for i, r in enumerate(mine):
            ax.text(r.per_second, i, f" {r.per_second:,.0f}", va="center", fontsize=8)
        fig.tight_layout()
        fig.savefig(directory / f"{stem}-{workload}.png")
        plt.close(fig)
