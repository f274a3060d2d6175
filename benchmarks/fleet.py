"""The processes a benchmark run starts, and stops: Redis, modelfleet and stock Celery workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from producer.local.embedded_redis import RedisServer
from producer.local.worker import LocalWorker, start_worker
from worker_config.settings import Settings

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Fleet:
    """Everything started for one run; :meth:`stop` stops all of it, by PID."""

    redis: RedisServer
    workdir: Path
    model_env: dict[str, str]
    workers: list[LocalWorker] = field(default_factory=list)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def env(self, queue: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "MODELFLEET_"))}
        env.update(self.model_env)
        env.update(
            CELERY_BROKER_URL=self.redis.url(0),
            CELERY_RESULT_BACKEND=self.redis.url(1),
            MODELFLEET_QUEUE=queue,
            PYTHONPATH=str(REPO),
            **extra,
        )
        return env

    def settings(self, env: dict[str, str]) -> Settings:
        fields = {k.removeprefix("MODELFLEET_").lower(): v for k, v in env.items()}
        return Settings(
            CELERY_BROKER_URL=env["CELERY_BROKER_URL"],
            CELERY_RESULT_BACKEND=env["CELERY_RESULT_BACKEND"],
            **{k: v for k, v in fields.items() if k in Settings.model_fields and k != "model"},
            model=env["MODELFLEET_MODEL"],
        )

    def start_modelfleet(
        self, queue: str, concurrency: int, wait: bool = True, **extra: str
    ) -> tuple[LocalWorker, Settings]:
        env = self.env(queue, **extra)
        worker = start_worker(
            env,
            self.workdir / f"{queue}.log",
            concurrency=concurrency,
            name=queue,
            extra_args=["--without-mingle", "--without-gossip"],
        )
        self.workers.append(worker)
        settings = self.settings(env)
        if wait:
            worker.wait_ready(settings, concurrency, timeout=300)
        return worker, settings

    def start_celery_app(
        self, module: str, queue: str, concurrency: int
    ) -> subprocess.Popen[bytes]:
        """A plain ``celery -A <module> worker`` (stock Celery, celery-batches)."""
        env = self.env(queue, BENCH_STOCK_QUEUE=queue, BENCH_BATCHES_QUEUE=queue)
        with (self.workdir / f"{queue}.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "celery", "-A", module, "worker", "--loglevel=INFO"),
                    *(f"--concurrency={concurrency}", "-Q", queue),
                    *(f"--hostname={queue}-{uuid.uuid4().hex[:6]}@%h",),
                    *("--without-mingle", "--without-gossip"),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.others.append(process)
        return process

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop(timeout=30)
        for process in self.others:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        self.workers.clear()
        self.others.clear()

    def stop_worker(self, worker: LocalWorker) -> None:
        worker.stop(timeout=30)
        self.workers.remove(worker)


def wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")
