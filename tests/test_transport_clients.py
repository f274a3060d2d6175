"""Our Redis channel reuses one client per pool (kombu builds one per ack), and still works."""

from __future__ import annotations

from kombu import Connection

from producer.local.embedded_redis import RedisServer
from worker_config.celery_ext import transport


def test_a_channel_serves_every_call_from_one_client_until_its_pool_is_replaced(
    redis_server: RedisServer,
) -> None:
    transport.register()
    with Connection(redis_server.url(0)) as connection:
        channel = connection.default_channel
        assert isinstance(channel, transport.Channel)
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        old_pool = channel.pool
        channel._disconnect_pools()  # what kombu does after a fork or on reconnect
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool is not old_pool
            assert third.ping()


def test_messages_are_recorded_unacked_and_acknowledged_through_the_shared_client(
    redis_server: RedisServer,
) -> None:
    transport.register()
    queue = "transport-clients-test"
    with Connection(redis_server.url(0)) as connection:
        producer = connection.SimpleQueue(queue)
        for i in range(3):
            producer.put({"n": i})
        got = []
        for _ in range(3):
            message = producer.get(timeout=5)
            got.append(message.payload["n"])
            qos = connection.default_channel.qos
            with connection.default_channel.conn_or_acquire() as client:
                assert client.hexists(qos.unacked_key, message.delivery_tag)
            message.ack()
            with connection.default_channel.conn_or_acquire() as client:
                assert not client.hexists(qos.unacked_key, message.delivery_tag)
        producer.close()
    assert got == [0, 1, 2]
