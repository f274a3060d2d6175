"""1,000,000 IDs to Parquet, the producer SIGKILLed at ~30% and resumed: every ID exactly once,
Redis and the producer's memory bounded (``make test-slow``; ``MODELFLEET_SLOW_IDS`` scales it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

pq = pytest.importorskip("pyarrow.parquet")

from tests.conftest import WorkerFactory, settings_for  # noqa: E402
from tests.sinks.plugins import expected_labels  # noqa: E402

N = int(os.environ.get("MODELFLEET_SLOW_IDS", "1000000"))
SOURCE = {"MODELFLEET_SOURCE": "tests.sinks.plugins:modulo_digits"}
#: The issue's bounds: Redis at most 50 MB above its baseline, the producer at most 200 MB.
REDIS_MB, PRODUCER_MB = 50, 200


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _watch(process: subprocess.Popen[bytes], until: float) -> float:
    """Peak RSS of ``process`` while it runs (or until the monotonic time ``until``)."""
    peak = 0.0
    while process.poll() is None and time.monotonic() < until:
        try:
            peak = max(peak, _peak_rss_mb(process.pid))
        except (FileNotFoundError, ProcessLookupError):
            break
        time.sleep(0.2)
    return peak


@pytest.mark.timeout(900)
def test_a_million_ids_killed_producer_resumed_every_id_once_memory_bounded(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, **SOURCE}
    settings = settings_for(env)
    worker_factory(env=SOURCE)
    backend = redis.Redis.from_url(settings.result_backend)
    baseline = int(backend.info("memory")["used_memory"])
    ids = tmp_path / "ids.txt"
    with ids.open("w") as f:
        for start in range(0, N, 100_000):
            f.write("\n".join(map(str, range(start, min(start + 100_000, N)))) + "\n")
    out = tmp_path / "out"
    parts = -(-N // 1000)
    err = tmp_path / "producer.err"
    command = [sys.executable, "-m", "producer", "enqueue", "--file", str(ids), "-b", "1000"]
    with err.open("w") as stderr:
        producer = subprocess.Popen([*command, "--sink", out.as_uri()], env=env, stderr=stderr)
    peak = 0.0
    try:
        while len(list(out.glob("part-*.parquet"))) < parts * 0.3:
            assert producer.poll() is None, err.read_text()
            peak = max(peak, _watch(producer, time.monotonic() + 1))
        os.kill(producer.pid, signal.SIGKILL)  # the producer we started
    finally:
        producer.kill()
        producer.wait(10)
    job_id = re.search(r"job ([0-9a-f]{32}):", err.read_text())
    assert job_id, err.read_text()

    resumed = subprocess.Popen(
        [sys.executable, "-m", "producer", "job", job_id.group(1), "--resume"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    peak = max(peak, _watch(resumed, time.monotonic() + 800))
    stdout, _ = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, stdout
    assert f"parts {parts} of {parts}, rows {N}, errors 0" in stdout.decode()

    table = pq.read_table(out, columns=["id", "label"])
    assert table.num_rows == N
    ids_out = table.column("id").to_numpy()
    ids_out.sort()
    assert (ids_out == list(range(N))).all()  # every ID exactly once
    sample = list(range(0, N, max(1, N // 1000)))
    labels = dict(
        zip(table.column("id").to_pylist(), table.column("label").to_pylist(), strict=True)
    )
    assert [labels[i] for i in sample] == expected_labels(settings, sample)

    redis_peak = (int(backend.info("memory")["used_memory_peak"]) - baseline) / 1e6
    assert redis_peak <= REDIS_MB, f"Redis peaked {redis_peak:.1f} MB above its baseline"
    assert peak <= PRODUCER_MB, f"producer peak RSS {peak:.0f} MB"
    print(f"\n{N} IDs: Redis peak +{redis_peak:.1f} MB, producer peak RSS {peak:.0f} MB")
