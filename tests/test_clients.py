"""The Redis client factory and the key names: every URL form, caching, forks, prefixes."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu.transport.redis import Channel
from redis.sentinel import SentinelConnectionPool

from producer.local.embedded_redis import RedisServer, start_redis
from tests.test_tls import tls_redis  # noqa: F401  (a fixture)
from worker_config import clients, keys
from worker_config.celeryconfig import celery_config
from worker_config.errors import ConfigError
from worker_config.settings import Settings, load_settings


@pytest.fixture
def socket_redis() -> Iterator[Path]:
    """A private Redis that also listens on a Unix socket (short path: sockets allow ~100)."""
    workdir = Path(tempfile.mkdtemp(prefix="mf-sock-"))
    sock = workdir / "redis.sock"
    server = start_redis(workdir / "data", args=["--unixsocket", str(sock)])
    yield sock
    server.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def test_redis_and_unix_urls_reach_their_server(
    redis_server: RedisServer, socket_redis: Path
) -> None:
    settings, key = Settings(), f"test-{uuid.uuid4().hex}"
    tcp = clients.Clients().get(settings, redis_server.url(2))
    tcp.set(key, "tcp", ex=60)
    assert tcp.get(key) == b"tcp"
    for url in (f"unix://{socket_redis}?db=3", f"redis+socket://{socket_redis}?db=3"):
        client = clients.Clients().get(settings, url)
        client.set(key, url, ex=60)
        assert client.get(key) == url.encode()
        assert client.connection_pool.connection_kwargs["path"] == str(socket_redis)


def test_rediss_urls_follow_the_tls_rules(
    tls_redis: tuple[RedisServer, int, Path],  # noqa: F811
) -> None:
    _, port, ca_file = tls_redis
    settings, base = Settings(), f"rediss://127.0.0.1:{port}/0"
    assert clients.Clients().get(settings, f"{base}?ssl_ca_certs={ca_file}").ping()
    # Certificates are checked by default: a CA nobody vouches for is refused.
    with pytest.raises(redis.ConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
        clients.Clients().get(settings, base).ping()
    # A spelling only tls.py knows (redis-py alone would reject it), so its rules were applied.
    assert clients.Clients().get(settings, f"{base}?ssl_cert_reqs=cert_none").ping()


def test_one_client_per_url_and_purpose_with_that_purposes_timeouts(
    redis_server: RedisServer,
) -> None:
    made, settings, url = clients.Clients(), Settings(), redis_server.url(0)
    default = made.get(settings, url)
    assert made.get(settings, url) is default
    short = made.get(settings, url, clients.Purpose.SHORT)
    assert short is not default and made.get(settings, url, clients.Purpose.SHORT) is short
    assert made.get(settings, redis_server.url(1)) is not default
    for client, purpose in ((default, clients.Purpose.DEFAULT), (short, clients.Purpose.SHORT)):
        policy, options = clients.POLICIES[purpose], client.connection_pool.connection_kwargs
        assert options["socket_timeout"] == policy.socket_timeout
        assert options["socket_connect_timeout"] == policy.socket_connect_timeout
        assert options["health_check_interval"] == policy.health_check_interval
        assert options["retry"].get_retries() == policy.retries
    made.close()
    assert made.get(settings, url) is not default


def test_a_client_used_before_a_fork_gets_its_own_connection_in_the_child(
    redis_server: RedisServer,
) -> None:
    client = clients.Clients().get(Settings(), redis_server.url(0))
    parent_connection = client.client_id()
    key = f"test-fork-{uuid.uuid4().hex}"
    with warnings.catch_warnings():  # Python warns about forking a threaded process; we don't
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: same client object, inherited from the parent
        status = 1
        try:
            child_connection = client.client_id()
            client.set(key, child_connection, ex=60)
            status = 0 if child_connection != parent_connection else 3
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connection was left alone by the child, and still works.
    assert client.client_id() == parent_connection
    assert int(client.get(key) or 0) not in (0, parent_connection)


def test_sentinel_urls_name_the_sentinels_the_master_and_its_database() -> None:
    url = "sentinel://:s3cret@sentinel-a:26380/3;sentinel://sentinel-b/3;sentinel://10.0.0.9:26381"
    target = clients.parse_sentinel_url(url)
    assert target.sentinels == (("sentinel-a", 26380), ("sentinel-b", 26379), ("10.0.0.9", 26381))
    assert (target.db, target.password, target.tls) == (3, "s3cret", False)
    assert clients.parse_sentinel_url("sentinel+ssl://h:1").tls
    with pytest.raises(ValueError):
        clients.parse_sentinel_url("sentinel://h:1;redis://h:2")

    settings = Settings(
        CELERY_BROKER_URL=url, sentinel_master="fleet-master", sentinel_password="sentinel-pw"
    )
    client = clients.make_client(settings, url, clients.Purpose.SHORT)  # does not connect yet
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "fleet-master"
    assert pool.connection_kwargs["db"] == 3 and pool.connection_kwargs["password"] == "s3cret"
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26380, 26379, 26381]
    assert all(s.connection_pool.connection_kwargs["password"] == "sentinel-pw" for s in sentinels)


def test_settings_accept_sentinel_urls_and_refuse_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERY_BROKER_URL", "sentinel://h1:26379;sentinel://h2:26379/0")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "sentinel+ssl://h1:26379/1")
    monkeypatch.setenv("MODELFLEET_SENTINEL_PASSWORD", "pw")
    settings = load_settings()
    assert settings.sentinel_master == "mymaster"
    assert settings.sentinel_password and settings.sentinel_password.get_secret_value() == "pw"
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://h/")
    with pytest.raises(ConfigError, match="CELERY_BROKER_URL"):
        load_settings()


def test_keys_without_a_global_prefix_are_the_ones_redis_holds_today() -> None:
    settings = Settings(key_prefix="mf:")
    assert keys.costs(settings, "digits") == "mf:costs:digits"
    assert keys.dead_letters(settings) == "mf:dead-letters"
    assert keys.delivery(settings, "t1") == "mf:delivery:t1"
    children, loads = keys.worker_registry(settings, "w@h")
    assert (children, loads) == ("mf:worker:w@h:children", "mf:worker:w@h:loads")
    assert keys.job(settings, "j") == ("mf:job:j", "mf:job:j:tasks", "mf:job:j:batches")
    assert (keys.unacked(settings), keys.unacked_index(settings)) == ("unacked", "unacked_index")
    assert keys.queue_lists(settings, "q") == ["q"] + [f"q\x06\x16{p}" for p in (3, 6, 9)]
    assert keys.result(settings, "t1") == "celery-task-meta-t1"


def test_every_key_honours_the_global_prefix_as_kombu_and_celery_do() -> None:
    settings = Settings(
        key_prefix="mf:",
        global_keyprefix="shared",
        CELERY_RESULT_BACKEND="redis://127.0.0.1:1/1",  # never connected
    )
    ours = [
        keys.costs(settings, "m"),
        keys.dead_letters(settings),
        keys.delivery(settings, "t"),
        *keys.worker_registry(settings, "w"),
        *keys.job(settings, "j"),
        keys.jobs_pattern(settings),
    ]
    assert all(key.startswith("sharedmf:") for key in ours)
    assert keys.unacked(settings) == "shared" + Channel.unacked_key
    assert keys.unacked_index(settings) == "shared" + Channel.unacked_index_key
    assert all(k.startswith("sharedq") for k in keys.queue_lists(settings, "q"))
    assert keys.queue_name(settings, keys.queue_lists(settings, "q.m")[2]) == "q.m"
    # The names kombu and Celery use are given the same prefix by our Celery config.
    config = celery_config(settings)
    assert config["broker_transport_options"]["global_keyprefix"] == "shared"
    app = Celery("test-keys", set_as_current=False)
    app.conf.update(config)
    backend_key = app.backend.get_key_for_task("t1")  # type: ignore[attr-defined]
    assert keys.result(settings, "t1").encode() == backend_key
