"""A job's results go to a Parquet data set written by the workers, not into Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pa_ds = pytest.importorskip("pyarrow.dataset")  # the `sink` extra (absent in `make test-lowest`)

from producer import FleetExecutor  # noqa: E402
from tests.conftest import WorkerFactory, settings_for  # noqa: E402
from tests.sinks.plugins import expected_labels  # noqa: E402

SOURCE = {"MODELFLEET_SOURCE": "tests.sinks.plugins:modulo_digits"}


def test_map_to_sink_writes_every_id_once_with_the_models_labels(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**fleet_env, **SOURCE}
    worker_factory(env=SOURCE)
    out = tmp_path / "out"
    n = 100_000
    with FleetExecutor(settings_for(env), batch_size=1000) as ex:
        result = ex.map_to_sink(range(n), out.as_uri())
    assert (result.rows, result.errors, result.parts) == (n, 0, 100)

    table = pa_ds.dataset(out, format="parquet").to_table()
    assert table.num_rows == n
    ids = table.column("id").to_pylist()
    assert sorted(ids) == list(range(n))  # every ID once
    assert {"id", "label", "confidence", "error_type", "error_message"} <= set(table.column_names)
    assert {"model_name", "model_version"} <= set(table.column_names)
    assert set(table.column("model_name").to_pylist()) == {"digits"}
    sample = list(range(0, n, 100))
    by_id = dict(zip(ids, table.column("label").to_pylist(), strict=True))
    assert [by_id[i] for i in sample] == expected_labels(settings_for(env), sample)

    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest | {"written": 0} == manifest | {
        "job": result.job_id, "ids": n, "parts": 100, "rows": n, "errors": 0, "written": 0
    }  # fmt: skip
    assert not list(out.glob(".*")), "no temporary file is left behind"


def test_failed_items_are_rows_with_their_error(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    worker_factory()  # the plain digits source: rows 0..1796 only
    with FleetExecutor(settings_for(fleet_env), batch_size=3) as ex:
        result = ex.map_to_sink([0, 1, 5000, 2], (tmp_path / "o").as_uri())
    assert (result.rows, result.errors) == (4, 1)
    rows = pa_ds.dataset(tmp_path / "o", format="parquet").to_table().to_pylist()
    failed = [r for r in rows if r["error_type"]]
    assert [(r["id"], r["error_type"], r["label"]) for r in failed] == [
        (5000, "UnknownInput", None)
    ]
    assert sorted(r["id"] for r in rows if not r["error_type"]) == [0, 1, 2]
