"""Fixtures that start real processes: a private Redis on a free port, and real Celery workers.

Nothing here touches a Redis that may already run on 6379; every process we start is stopped
by its PID when the test (or session) ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from producer.local.embedded_redis import RedisServer, start_redis
from producer.local.worker import LocalWorker, start_worker
from worker_config.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the session, so the digits model is trained once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture
def fleet_env(redis_server: RedisServer, model_cache: Path) -> dict[str, str]:
    """Environment for one test's workers and producers: its own queue and key namespace."""
    tag = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
    env.update(
        CELERY_BROKER_URL=redis_server.url(0),
        CELERY_RESULT_BACKEND=redis_server.url(1),
        MODELFLEET_QUEUE=f"test-{tag}",
        MODELFLEET_KEY_PREFIX=f"test-{tag}:",
        MODELFLEET_INPUT_PREFIX=f"test-{tag}:input:",
        MODELFLEET_CACHE_DIR=str(model_cache),
        PYTHONPATH=str(REPO),
    )
    return env


def settings_for(env: dict[str, str]) -> Settings:
    """The settings a producer in ``env`` would read."""
    return Settings(
        CELERY_BROKER_URL=env["CELERY_BROKER_URL"],
        CELERY_RESULT_BACKEND=env["CELERY_RESULT_BACKEND"],
        **{
            k.removeprefix("MODELFLEET_").lower(): v
            for k, v in env.items()
            if k.startswith("MODELFLEET_")
        },
    )


@pytest.fixture
def fleet_settings(fleet_env: dict[str, str]) -> Settings:
    return settings_for(fleet_env)


WorkerFactory = Callable[..., LocalWorker]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 0.2 s; fail the test saying ``not <what>`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} after {timeout}s")
        time.sleep(0.2)


def run_cli(
    env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """``modelfleet ARGS`` in a subprocess with ``env``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "producer", *args],
        check=False, env=env, input=stdin, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def worker_factory(fleet_env: dict[str, str], tmp_path: Path) -> Iterator[WorkerFactory]:
    """Start real ``celery -A tasks worker`` processes; all are stopped after the test."""
    started: list[LocalWorker] = []

    def start(
        concurrency: int = 2, wait: bool = True, env: dict[str, str] | None = None, **kwargs: object
    ) -> LocalWorker:
        merged = {**fleet_env, **(env or {})}
        worker = start_worker(
            merged,
            tmp_path / f"worker-{len(started)}.log",
            concurrency=concurrency,
            **kwargs,  # type: ignore[arg-type]
        )
        started.append(worker)
        if wait:
            worker.wait_ready(settings_for(merged), concurrency or 1, timeout=90)
        return worker

    yield start
    for worker in started:
        worker.stop(timeout=20)


@pytest.fixture
def worker(worker_factory: WorkerFactory) -> LocalWorker:
    """One ready worker with two children."""
    return worker_factory()


@pytest.fixture
def broker(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url(0))
    yield client
    client.close()
