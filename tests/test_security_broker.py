"""The broker's safety as `modelfleet status` sees it, and passwords kept out of what we print."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.local.embedded_redis import RedisServer, start_redis
from tests.conftest import WorkerFactory, run_cli

PASSWORD = "s3cret-pa55word"


@pytest.fixture
def locked_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A durable Redis that wants a password, and has an ACL user ``fleet``."""
    server = start_redis(
        tmp_path / "redis", args=["--appendonly", "yes", "--maxmemory-policy", "noeviction"]
    )
    # Locked after start: start_redis checks that the new server answers an unauthenticated PING.
    client = redis.Redis(port=server.port)
    client.acl_setuser(
        "fleet", enabled=True, passwords=[f"+{PASSWORD}-acl"], keys=["*"], channels=["*"],
        commands=["+@all"],
    )  # fmt: skip
    client.config_set("requirepass", PASSWORD)
    client.close()
    yield server
    server.stop()


def test_status_warns_when_the_broker_would_lose_work(fleet_env: dict[str, str]) -> None:
    shown = run_cli(fleet_env, "status", "--timeout", "1")  # the test Redis: no AOF
    assert shown.returncode == 0, shown.stderr
    assert "appendonly no: a Redis restart loses every queued" in shown.stderr


def test_password_and_acl_user_connect_and_no_password_is_printed(
    fleet_env: dict[str, str], locked_redis: RedisServer
) -> None:
    port = locked_redis.port
    for url in (
        f"redis://:{PASSWORD}@127.0.0.1:{port}/0",
        f"redis://fleet:{PASSWORD}-acl@127.0.0.1:{port}/0",
    ):
        env = {**fleet_env, "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url[:-1] + "1"}
        shown = run_cli(env, "status", "--timeout", "1")
        assert shown.returncode == 0, shown.stderr
        assert "appendonly" not in shown.stderr  # a durable broker: no warning
        assert PASSWORD not in shown.stdout + shown.stderr
        assert f"127.0.0.1:{port}" in shown.stdout


def test_wrong_credentials_name_the_url_without_the_password(
    fleet_env: dict[str, str], locked_redis: RedisServer
) -> None:
    url = f"redis://fleet:wrong-{PASSWORD}@127.0.0.1:{locked_redis.port}/0"
    env = {**fleet_env, "CELERY_BROKER_URL": url, "CELERY_RESULT_BACKEND": url}
    sent = run_cli(env, "enqueue", "1", "--wait", "--timeout", "5")
    assert sent.returncode == 3
    assert f"127.0.0.1:{locked_redis.port}" in sent.stderr
    assert "credentials" in sent.stderr or "auth" in sent.stderr.lower()
    assert PASSWORD not in sent.stdout + sent.stderr


def test_a_worker_with_wrong_credentials_says_where_without_the_password(
    worker_factory: WorkerFactory, locked_redis: RedisServer
) -> None:
    url = f"redis://fleet:wrong-{PASSWORD}@127.0.0.1:{locked_redis.port}"
    worker = worker_factory(
        concurrency=1,
        wait=False,
        env={"CELERY_BROKER_URL": f"{url}/0", "CELERY_RESULT_BACKEND": f"{url}/1"},
    )
    deadline = time.monotonic() + 60
    while "Cannot connect to" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = worker.log()
    # kombu names our transport class where the scheme goes: "...Transport://fleet:**@host:port/0"
    assert f"://fleet:**@127.0.0.1:{locked_redis.port}/0" in log
    assert "invalid username-password pair" in log
    assert PASSWORD not in log
