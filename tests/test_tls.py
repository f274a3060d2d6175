"""Redis over TLS: workers and producers connect with ``rediss://`` and check the certificate."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from producer import FleetExecutor
from producer.local.embedded_redis import RedisServer, free_port, start_redis
from producer.local.worker import LocalWorker
from tests.conftest import WorkerFactory, settings_for
from worker_config.errors import ModelfleetError


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[RedisServer, int, Path]]:
    """A Redis with a TLS port whose certificate is signed by a CA made for this test."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    tls_port = free_port()
    try:
        server = start_redis(
            tmp_path / "redis",
            args=[
                "--tls-port", str(tls_port), "--tls-cert-file", str(cert_file),
                "--tls-key-file", str(key_file), "--tls-ca-cert-file", str(ca_file),
                "--tls-auth-clients", "no",
            ],
        )  # fmt: skip
    except ModelfleetError as exc:
        pytest.skip(f"this redis-server has no TLS support: {exc}")
    yield server, tls_port, ca_file
    server.stop()


def test_workers_and_producers_talk_over_tls_with_a_checked_certificate(
    worker_factory: WorkerFactory,
    fleet_env: dict[str, str],
    tls_redis: tuple[RedisServer, int, Path],
) -> None:
    _, port, ca_file = tls_redis
    base = f"rediss://127.0.0.1:{port}"
    env = {
        "CELERY_BROKER_URL": f"{base}/0?ssl_ca_certs={ca_file}",
        "CELERY_RESULT_BACKEND": f"{base}/1?ssl_ca_certs={ca_file}",
    }
    worker: LocalWorker = worker_factory(concurrency=1, env=env)
    assert "Connected to" in worker.log()
    with FleetExecutor(settings_for({**fleet_env, **env})) as executor:
        items = list(executor.map(range(30), timeout=60))
    assert [item["id"] for item in items] == list(range(30))
    assert all("output" in item for item in items)


def test_a_certificate_nobody_vouches_for_is_refused_without_printing_the_password(
    fleet_env: dict[str, str], tls_redis: tuple[RedisServer, int, Path]
) -> None:
    _, port, _ = tls_redis
    url = f"rediss://:hunter2@127.0.0.1:{port}"  # no ssl_ca_certs: the system CAs don't know it
    env = {**fleet_env, "CELERY_BROKER_URL": f"{url}/0", "CELERY_RESULT_BACKEND": f"{url}/1"}
    done = subprocess.run(
        [sys.executable, "-m", "producer", "enqueue", "1", "--wait"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
    assert f"rediss://:**@127.0.0.1:{port}/0" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
