"""The result backend fails while the broker is up: no task is acknowledged without its result.

The workers keep taking tasks from the broker; each result they cannot store sends its task back
(rejected and requeued), so once the backend answers again every ID is answered.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from producer import FleetExecutor
from producer.local.embedded_redis import RedisServer, start_redis
from tests.conftest import WorkerFactory, settings_for
from tests.faults.conftest import Outcome, report
from worker_config.contract import ResultItem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

IDS = list(range(1000))


@pytest.fixture
def backend_redis(tmp_path: Path) -> Iterator[RedisServer]:
    # Durable, like a production backend: results stored before the stop survive it.
    server = start_redis(
        tmp_path / "backend", args=["--appendonly", "yes", "--appendfsync", "always"]
    )
    yield server
    server.stop()


def _env(fault_env: dict[str, str], broker_url: str, backend_url: str) -> dict[str, str]:
    return {
        **fault_env,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_RESULT_BACKEND": backend_url,
        "TEST_COUNT_URL": broker_url,  # the counts must not depend on the failing backend
        "TEST_SLEEP_PER_ITEM": "0.004",
        "MODELFLEET_VISIBILITY_TIMEOUT": "10",
    }


def _counts(url: str, settings_prefix: str) -> Counter[int]:
    client = redis.Redis.from_url(url)
    try:
        raw = client.hgetall(f"{settings_prefix}test:executions")
    finally:
        client.close()
    return Counter({int(k): int(v) for k, v in raw.items()})  # type: ignore[union-attr]


def _wait_started(url: str, prefix: str, count: int) -> None:
    deadline = time.monotonic() + 90
    while sum(_counts(url, prefix).values()) < count:
        assert time.monotonic() < deadline, f"fewer than {count} IDs ran within 90s"
        time.sleep(0.05)


def account_counts(
    fault: str, ids: list[int], items: list[ResultItem], runs: Counter[int]
) -> Outcome:
    """Every ID answered once, in order; how many ran more than once."""
    seen = Counter(item["id"] for item in items)
    assert [item["id"] for item in items] == ids, "results missing, repeated or out of order"
    errors = Counter(item["error"]["type"] for item in items if "error" in item)
    return report(
        Outcome(
            fault=fault,
            sent=len(ids),
            results=len(items),
            duplicates=sum(1 for i in ids if runs[i] > 1),
            lost=sum(1 for i in ids if seen[i] == 0),
            errors=dict(errors),
        )
    )


def _run_through_outage(
    worker_factory: WorkerFactory,
    env: dict[str, str],
    outage: tuple[Callable[[], object], Callable[[], object]],
    fault: str,
    store_fails: bool = True,
) -> Outcome:
    """Send the job, cut the backend (``outage[0]``) for 10 s mid-run, restore it, account."""
    stop, start = outage
    settings = settings_for(env)
    worker = worker_factory(concurrency=2, env=env)
    job = FleetExecutor(settings).submit_batches(IDS, batch_size=5)
    _wait_started(env["TEST_COUNT_URL"], settings.key_prefix, 100)
    stop()
    time.sleep(10)
    start()
    items = list(job.results(timeout=120))
    runs = _counts(env["TEST_COUNT_URL"], settings.key_prefix)
    outcome = account_counts(fault, IDS, items, runs)
    assert outcome.lost == 0 and not outcome.errors, outcome
    assert worker.process.poll() is None, worker.log()[-3000:]
    if store_fails:  # the outage really hit the worker's writes (not just an idle moment)
        log = worker.log()
        # Ours, or Celery's own retry of the one-round-trip store (celery_ext/results.py).
        hit = ("could not store", "refuses to record", "acknowledge", "Connection to Redis lost")
        assert any(m in log for m in hit), log

    return outcome


def test_backend_server_down_mid_job_loses_no_result(
    worker_factory: WorkerFactory,
    fault_env: dict[str, str],
    redis_server: RedisServer,
    backend_redis: RedisServer,
) -> None:
    env = _env(fault_env, fault_env["CELERY_BROKER_URL"], backend_redis.url(1))
    _run_through_outage(
        worker_factory,
        env,
        (backend_redis.stop, backend_redis.start_again),
        "result backend server stopped 10 s (broker up)",
    )


def test_backend_paused_on_a_shared_server_loses_no_result(
    worker_factory: WorkerFactory, fault_env: dict[str, str], backend_redis: RedisServer
) -> None:
    """Broker and backend in two databases of one server; the server stops writing for 10 s.

    ``CLIENT PAUSE WRITE`` stalls every write (the broker's too), which is what one server can
    do to both databases at once: nothing may be lost either way.
    """
    env = _env(fault_env, backend_redis.url(0), backend_redis.url(1))
    admin = redis.Redis.from_url(backend_redis.url(0))
    _run_through_outage(
        worker_factory,
        env,
        (
            lambda: admin.execute_command("CLIENT", "PAUSE", "10000", "WRITE"),
            lambda: admin.execute_command("CLIENT", "UNPAUSE"),
        ),
        "broker and backend on one server, writes paused 10 s",
        store_fails=False,  # paused writes wait rather than fail
    )
    admin.close()


def _memory_outage(admin: redis.Redis) -> tuple[Callable[[], None], Callable[[], None]]:
    """Fill the server to ``maxmemory`` (``noeviction``); then free it."""
    ballast = "test:ballast"

    def fill() -> None:
        # Ballast, then a limit below what is used: every write is refused with OOM (a limit
        # just above would let small writes through as soon as a refused big one is freed).
        admin.rpush(ballast, *(["x" * 100_000] * 20))
        used = int(admin.info("memory")["used_memory"])  # type: ignore[index]
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", str(used - 1_000_000))

    def free() -> None:
        admin.delete(ballast)
        admin.config_set("maxmemory", "0")

    return fill, free


def test_backend_out_of_memory_loses_no_result_and_the_worker_resumes(
    worker_factory: WorkerFactory,
    fault_env: dict[str, str],
    redis_server: RedisServer,
    backend_redis: RedisServer,
) -> None:
    """The backend at ``maxmemory`` with ``noeviction`` refuses writes (OOM) for 10 s."""
    env = _env(fault_env, fault_env["CELERY_BROKER_URL"], backend_redis.url(1))
    admin = redis.Redis.from_url(backend_redis.url(1))
    _run_through_outage(
        worker_factory, env, _memory_outage(admin), "result backend at maxmemory (noeviction) 10 s"
    )
    admin.close()


def test_shared_server_out_of_memory_loses_nothing_and_the_worker_resumes(
    worker_factory: WorkerFactory,
    fault_env: dict[str, str],
    redis_server: RedisServer,
    backend_redis: RedisServer,
) -> None:
    """Broker and backend in two databases of one server at ``maxmemory`` for 10 s: acks are
    refused too (the worker parent used to stop with "Unrecoverable error: OutOfMemoryError")."""
    env = _env(fault_env, backend_redis.url(0), backend_redis.url(1))
    env["TEST_COUNT_URL"] = redis_server.url(2)  # counted where memory is not short
    admin = redis.Redis.from_url(backend_redis.url(1))
    _run_through_outage(
        worker_factory,
        env,
        _memory_outage(admin),
        "broker and backend on one server at maxmemory (noeviction) 10 s",
    )
    admin.close()
