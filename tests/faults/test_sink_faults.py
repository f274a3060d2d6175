"""Worker children killed while they write Parquet parts: no reader ever sees a partial part."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

pq = pytest.importorskip("pyarrow.parquet")  # the `sink` extra

from producer import FleetExecutor  # noqa: E402
from producer.sink_jobs import SinkResult  # noqa: E402
from tests.conftest import WorkerFactory, settings_for  # noqa: E402
from tests.faults.conftest import children_of  # noqa: E402

WIDE = {
    "MODELFLEET_MODEL": "digits=tests.sinks.plugins:wide_digits",
    "MODELFLEET_SOURCE": "tests.sinks.plugins:modulo_digits",
    "TEST_VECTOR_WIDTH": "4000",  # ~3 MB per part of 100 items: writing takes a while
}


@pytest.mark.timeout(300)
def test_children_killed_mid_write_leave_only_whole_parts_and_every_id_once(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    worker = worker_factory(env=WIDE)
    out = tmp_path / "out"
    n = 6000
    done: list[SinkResult] = []

    def produce() -> None:
        with FleetExecutor(settings_for({**fleet_env, **WIDE}), batch_size=100) as ex:
            done.append(ex.map_to_sink(range(n), out.as_uri()))

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    # Kill while a temporary part is on disk (a write in progress), else every second; kills
    # follow the job's progress, not wall time, so a fast machine still sees several.
    kills, checked, last_kill = 0, 0, time.monotonic()
    while producer.is_alive():
        for part in out.glob("part-*.parquet"):
            pq.read_metadata(part)  # a partial file under the final name raises here
            checked += 1
        since = time.monotonic() - last_kill
        writing = any(out.glob(".part-*.tmp"))
        children = children_of(worker)
        if kills < 4 and children and ((writing and since > 0.3) or since > 1.0):
            os.kill(children[0], signal.SIGKILL)  # a child of the worker we started
            kills, last_kill = kills + 1, time.monotonic()
        time.sleep(0.005)
    producer.join()

    assert kills >= 2 and checked > 0
    (result,) = done
    table = pq.read_table(out, columns=["id"])
    assert sorted(table.column("id").to_pylist()) == list(range(n))  # every ID exactly once
    assert result.rows == n
    assert not list(out.glob(".*")), "temporary parts of killed writers are removed at the end"
