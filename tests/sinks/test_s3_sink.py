"""The same job to S3: parts are single PUTs to an S3-compatible server started by the test.

The server is moto's (``python -m moto.server``): a real HTTP S3 API that pip installs, with no
Docker or Java, started on a free port and stopped by its PID. Workers and producer reach it
the usual fsspec way: credentials from ``AWS_*`` and the endpoint from ``FSSPEC_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pa_ds = pytest.importorskip("pyarrow.dataset")
s3fs = pytest.importorskip("s3fs")
fsspec = pytest.importorskip("fsspec")
pytest.importorskip("moto.server")

from producer import FleetExecutor  # noqa: E402
from tests.conftest import WorkerFactory, settings_for, wait_until  # noqa: E402

#: IDs in the S3 job (the issue's 100,000; lower it on a slow machine).
N_IDS = int(os.environ.get("MODELFLEET_TEST_S3_IDS", "100000"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def s3_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = _free_port()
    log = (tmp_path / "moto.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(endpoint), 30, "moto's S3 server answering")
        yield {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FSSPEC_S3_ENDPOINT_URL": endpoint,
        }
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@pytest.mark.timeout(300)
def test_a_job_to_s3_holds_every_id_once_and_leaves_only_parts_and_a_manifest(
    worker_factory: WorkerFactory,
    fleet_env: dict[str, str],
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    extra = {**s3_env, "MODELFLEET_SOURCE": "tests.sinks.plugins:modulo_digits"}
    for key, value in s3_env.items():  # the producer reads S3 the same way as the workers
        monkeypatch.setenv(key, value)
    # fsspec read FSSPEC_* when it was imported, before this test set them.
    monkeypatch.setitem(
        fsspec.config.conf, "s3", {"endpoint_url": s3_env["FSSPEC_S3_ENDPOINT_URL"]}
    )
    fs = s3fs.S3FileSystem(endpoint_url=s3_env["FSSPEC_S3_ENDPOINT_URL"])
    fs.mkdir("results")
    worker_factory(env=extra)

    with FleetExecutor(settings_for({**fleet_env, **extra}), batch_size=1000) as ex:
        result = ex.map_to_sink(range(N_IDS), "s3://results/digits/")
    assert (result.rows, result.errors, result.parts) == (N_IDS, 0, -(-N_IDS // 1000))

    names = {path.rsplit("/", 1)[1] for path in fs.ls("results/digits")}
    assert "_manifest.json" in names
    assert len(names - {"_manifest.json"}) == result.parts
    assert all(n.startswith(f"part-{result.job_id}-") for n in names - {"_manifest.json"})
    table = pa_ds.dataset("results/digits", filesystem=fs, format="parquet").to_table()
    assert sorted(table.column("id").to_pylist()) == list(range(N_IDS))
