"""Sentinel URLs reach Celery and kombu in a form they understand; replica acks wait for real."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu import Connection

from producer.connection import PollingSentinelBackend, client_app
from producer.local.embedded_redis import RedisServer, start_redis
from tests.conftest import wait_until
from worker_config import clients, replication
from worker_config.celery_ext import transport
from worker_config.celery_ext.transport import SentinelChannel, SentinelTransport, Transport
from worker_config.celeryconfig import celery_config
from worker_config.errors import ReplicationUnconfirmed
from worker_config.settings import Settings

TLS_URL = "sentinel+ssl://:pw@s1:26379/2?ssl_ca_certs=/etc/ca.pem;sentinel+ssl://s2:26380/2"


def sentinel_settings(url: str, **extra: object) -> Settings:
    return Settings(
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        sentinel_master="fleet",
        sentinel_password="sentinel-secret",
        **extra,  # type: ignore[arg-type]
    )


def test_sentinel_ssl_url_becomes_sentinel_url_with_checked_tls_for_celery() -> None:
    config = celery_config(sentinel_settings(TLS_URL))
    assert config["broker_url"] == "sentinel://:pw@s1:26379/2;sentinel://s2:26380/2"
    assert config["result_backend"] == config["broker_url"]
    transport.register()  # what lifecycle.connect does in every worker and in Flower
    assert isinstance(Connection(config["broker_url"]).transport, SentinelTransport)
    for options in (config["broker_transport_options"], config["result_backend_transport_options"]):
        assert options["master_name"] == "fleet"
        kwargs = options["sentinel_kwargs"]
        assert kwargs["password"] == "sentinel-secret"
        assert kwargs["ssl"] is True and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert config["broker_use_ssl"]["ssl_ca_certs"] == "/etc/ca.pem"
    assert config["redis_backend_use_ssl"]["ssl_ca_certs"] == "/etc/ca.pem"


def test_plain_redis_url_keeps_the_plain_hardened_transport() -> None:
    config = celery_config(Settings(CELERY_BROKER_URL="redis://h:6379/0"))
    transport.register()
    assert "broker_transport" not in config  # the URL keeps redis:// for Flower
    connection = Connection(config["broker_url"])
    assert type(connection.transport) is Transport and connection.transport.driver_type == "redis"
    assert "master_name" not in config["broker_transport_options"]


def test_kombu_never_switches_away_from_our_sentinel_transport() -> None:
    transport.register()
    app = Celery(set_as_current=False)
    app.conf.update(celery_config(sentinel_settings("sentinel://a:1/0;sentinel://b:2/0")))
    connection: Connection = app.connection_for_write()
    assert isinstance(connection.transport, SentinelTransport)
    connection.maybe_switch_next()  # what kombu does after a connection error
    assert isinstance(connection.transport, SentinelTransport)  # the "sentinel" alias is ours
    assert connection.transport.Channel is SentinelChannel
    assert connection.alt == ["sentinel://a:1/0", "sentinel://b:2/0"]  # all sentinels asked


def test_producer_reads_results_through_sentinel() -> None:
    app = client_app(sentinel_settings("sentinel://a:1/1;sentinel://b:2/1"))
    assert isinstance(app.backend, PollingSentinelBackend)


@pytest.fixture
def master_and_replica(tmp_path: Path) -> Iterator[tuple[RedisServer, RedisServer]]:
    master = start_redis(tmp_path / "master")
    replica = start_redis(tmp_path / "replica", args=["--replicaof", "127.0.0.1", str(master.port)])
    link = redis.Redis(port=replica.port)
    wait_until(lambda: link.info("replication")["master_link_status"] == "up", 30, "in sync")
    link.close()
    yield master, replica
    replica.stop()
    master.stop()


@pytest.mark.timeout(60)
def test_replica_acks_wait_for_a_replica_and_refuse_when_too_few(
    master_and_replica: tuple[RedisServer, RedisServer],
) -> None:
    master, replica = master_and_replica
    settings = Settings(CELERY_BROKER_URL=master.url(0), replica_acks=1)
    client = clients.broker(settings)
    client.lpush("queued", b"task")
    replication.confirm(client, settings)  # returns once the replica has the task
    assert clients.for_url(settings, replica.url(0)).lrange("queued", 0, -1) == [b"task"]
    too_many = Settings(CELERY_BROKER_URL=master.url(0), replica_acks=2, replica_ack_timeout_ms=200)
    with pytest.raises(ReplicationUnconfirmed, match="only 1 of 2 replicas"):
        replication.confirm(client, too_many)


def test_a_database_only_on_a_later_sentinel_entry_is_refused() -> None:
    with pytest.raises(ValueError, match="the first sentinel entry's"):
        Settings(CELERY_RESULT_BACKEND="sentinel://h1:26379;sentinel://h2:26379/1")
    assert Settings(CELERY_RESULT_BACKEND="sentinel://h1:26379/1;sentinel://h2:26379/1")
