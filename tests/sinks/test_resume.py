"""A producer killed mid-job loses nothing: ``job ID --resume`` sends only chunks without a part."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pa_ds = pytest.importorskip("pyarrow.dataset")  # the `sink` extra (absent in `make test-lowest`)
pq = pytest.importorskip("pyarrow.parquet")

import pyarrow as pa  # noqa: E402

from tests.conftest import WorkerFactory, run_cli, wait_until  # noqa: E402

SLOW = {
    "MODELFLEET_SOURCE": "tests.sinks.plugins:modulo_digits",
    "MODELFLEET_MODEL": "digits=tests.sinks.plugins:slow_digits",
    "TEST_PREDICT_SECONDS": "0.15",
}


def _job_id(stderr: Path) -> str | None:
    found = re.search(r"job ([0-9a-f]{32}):", stderr.read_text())
    return found.group(1) if found else None


def test_producer_killed_mid_job_then_resumed_writes_every_id_exactly_once(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, **SLOW}
    worker_factory(env=SLOW)
    n = 20_000
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(map(str, range(n))) + "\n")
    out = tmp_path / "out"
    stderr = tmp_path / "producer.err"
    with stderr.open("w") as err:
        producer = subprocess.Popen(
            [sys.executable, "-m", "producer", "enqueue", "--file", str(ids), "-b", "250",
             "--sink", out.as_uri()],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        wait_until(lambda: len(list(out.glob("part-*.parquet"))) >= 24, 60, "30% of parts written")
        os.kill(producer.pid, signal.SIGKILL)
    finally:
        producer.kill()
        producer.wait(10)
    job_id = _job_id(stderr)
    assert job_id, stderr.read_text()
    assert len(list(out.glob("part-*.parquet"))) < 80, "the job must not have finished already"

    resumed = run_cli(env, "job", job_id, "--resume", timeout=110)
    assert resumed.returncode == 0, resumed.stderr
    assert f"parts 80 of 80, rows {n}, errors 0, failed tasks 0" in resumed.stdout

    table = pa_ds.dataset(out, format="parquet").to_table(columns=["id"])
    assert table.num_rows == n
    assert sorted(table.column("id").to_pylist()) == list(range(n))


def test_csv_and_parquet_columns_stream_into_a_data_set_and_collect_into_one_file(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, "MODELFLEET_SOURCE": SLOW["MODELFLEET_SOURCE"]}
    worker_factory(env={"MODELFLEET_SOURCE": SLOW["MODELFLEET_SOURCE"]})
    source = tmp_path / "inputs.parquet"
    pq.write_table(pa.table({"name": ["a"] * 3000, "row": list(range(3000))}), source)
    csv = tmp_path / "inputs.csv"
    csv.write_text("name,row\n" + "".join(f"b,{i}\n" for i in range(3000, 3500)))

    for spec, sink in ((f"{source}:row", "p"), (f"{csv}:row", "c")):
        done = run_cli(env, "enqueue", "--file", spec, "-b", "700", "--sink", f"{tmp_path / sink}")
        assert done.returncode == 0, done.stderr
    job_id = _job_id_from(done.stderr)
    assert "parts 1 of 1, rows 500, errors 0" in done.stdout

    rows = pa_ds.dataset(tmp_path / "p", format="parquet").to_table(columns=["id"])
    assert sorted(rows.column("id").to_pylist()) == list(range(3000))

    merged = tmp_path / "all.parquet"
    collected = run_cli(env, "job", job_id, "--collect", str(merged))
    assert collected.returncode == 0, collected.stderr
    assert sorted(pq.read_table(merged).column("id").to_pylist()) == list(range(3000, 3500))


def _job_id_from(stderr: str) -> str:
    found = re.search(r"job ([0-9a-f]{32}):", stderr)
    assert found, stderr
    return found.group(1)
