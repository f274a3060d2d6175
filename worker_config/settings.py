"""Every setting in one typed object, read from the environment once and validated."""

from __future__ import annotations

import os
import tempfile
from functools import cache, cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from worker_config.errors import ConfigError

_REDIS_SCHEMES = (
    "redis://",
    "rediss://",
    "unix://",
    "redis+socket://",
    "sentinel://",
    "sentinel+ssl://",
)


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelfleet"


class Settings(BaseSettings):
    """modelfleet's settings; each field's environment variable is in the README."""

    model_config = SettingsConfigDict(env_prefix="MODELFLEET_", extra="ignore", frozen=True)

    broker_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("CELERY_BROKER_URL")
    )
    result_backend: str = Field(
        "redis://127.0.0.1:6379/1", validation_alias=AliasChoices("CELERY_RESULT_BACKEND")
    )
    #: Models a worker pool serves, comma-separated: a built-in name, ``package.module:factory``
    #: or ``name=package.module:factory``; each gets its queue ``<queue>.<name>`` (routing.py).
    model: str = "digits"
    #: The model tasks on the plain queue get; default: the first name in ``model``.
    default_model: str | None = None
    #: A built-in input source name or ``package.module:factory``.
    source: str = "digits"
    #: Redis that the ``redis`` input source reads; defaults to the broker's.
    source_url: str | None = None
    #: Key prefix under which other apps store inputs for the ``redis`` source.
    input_prefix: str = "modelfleet:input:"
    #: Prefix of the keys modelfleet itself writes (worker registry).
    key_prefix: str = "modelfleet:"
    #: kombu's ``global_keyprefix``: put before every key in Redis (queues, results, ours), to
    #: share one Redis with other apps; every worker and producer must use the same (keys.py).
    global_keyprefix: str = ""
    #: The Sentinel service name of the master, for ``sentinel://`` URLs (clients.py).
    sentinel_master: str = "mymaster"
    #: Password of the Sentinel processes themselves (the master's comes from the URL).
    sentinel_password: SecretStr | None = None
    #: Replicas that must confirm a task send or a stored result before it counts (Redis
    #: ``WAIT``), so a master lost in a Sentinel failover takes none with it; 0: off.
    replica_acks: int = Field(0, ge=0, le=16)
    #: Milliseconds to wait for those replicas; fewer in time is treated as a connection error.
    replica_ack_timeout_ms: int = Field(1000, ge=1, le=60_000)
    queue: str = "modelfleet"
    #: More queue names a pool serving the default model also consumes, comma-separated, as
    #: aliases of the plain queue: ``celery`` catches tasks sent without ``queue=`` (routing.py).
    extra_queues: str = ""
    #: Pool children per worker; default: the usable core count (affinity and cgroup aware).
    concurrency: int | None = Field(None, ge=1)
    #: BLAS/OpenMP threads per child; 1 keeps N children from oversubscribing N cores.
    threads_per_child: int = Field(1, ge=1)
    #: Most IDs one task may carry: the hard cap on automatic batch sizes. It bounds a child's
    #: memory (~1.4 KB per item at the peak of a batch: ~70 MB at 50,000) and one result value
    #: in Redis (~110 B per item); forests need batches of tens of thousands for 95% of their
    #: throughput (``worker_config/cost_model.py``), so it is that high.
    max_batch: int = Field(50_000, ge=1, le=100_000)
    #: Seconds a child may take to load its model before the worker gives up.
    model_load_timeout: float = Field(300.0, gt=0)
    #: Seconds results are kept in the result backend.
    result_expires: int = Field(86_400, ge=60)
    #: Seconds before Redis hands a task to another worker once its worker stops renewing the
    #: lease (lease.py renews running tasks, so this bounds recovery time, not task length).
    visibility_timeout: int = Field(300, ge=1)
    #: Seconds after which a running task gets ``SoftTimeLimitExceeded`` (None: no limit).
    task_soft_time_limit: float | None = Field(None, gt=0)
    #: Seconds after which a running task's child is killed and replaced (None: no limit).
    task_time_limit: float | None = Field(None, gt=0)
    #: Replace a child after this many tasks (None: never).
    max_tasks_per_child: int | None = Field(None, ge=1)
    #: Replace a child once its resident memory exceeds this many KiB (None: never).
    max_memory_per_child: int | None = Field(None, ge=1)
    #: Times an input may be running when its worker process dies before it is dead-lettered.
    max_deliveries: int = Field(3, ge=1)
    #: Seconds a pool child retries storing a result (backend down, full, read-only) before it
    #: gives the task back to the queue to run again, instead of acknowledging it unanswered.
    result_store_retry_seconds: float = Field(30.0, ge=0)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    #: Where a worker writes the files ``modelfleet probe ready|alive`` reads (probes.py).
    state_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "modelfleet")
    #: Weights file (``dense``: a 2-D ``.npy``) or directory (``minilm``: default, the bundled one).
    model_path: Path | None = None
    #: Map weights read-only so all children share one copy; false gives each child its own copy.
    mmap_weights: bool = True
    #: How ``minilm`` pools token vectors into one embedding: ``mean`` (sentence-transformers) or
    #: ``cls``; and whether it scales the embedding to unit length.
    embedding_pooling: Literal["mean", "cls"] = "mean"
    embedding_normalize: bool = True
    #: Worker log lines as ``text`` (Celery's format) or ``json`` (one object per line).
    log_format: Literal["text", "json"] = "text"
    #: Port on which the worker parent serves Prometheus metrics of all its children (None: off).
    metrics_port: int | None = Field(None, ge=0, le=65_535)
    #: Address the worker's metrics server binds to.
    metrics_address: str = "127.0.0.1"
    #: Flower basic-auth user and password (``celery -A tasks flower`` reads them).
    flower_user: str | None = None
    flower_password: SecretStr | None = None
    #: Serve Flower's ``/metrics`` without authentication (for a scraper that cannot log in).
    flower_open_metrics: bool = False
    #: Largest stored input (bytes) the ``redis`` source reads; larger ones get ``InputTooLarge``.
    max_input_bytes: int = Field(16 * 1024 * 1024, ge=1)
    #: Furthest ``eta``/``countdown`` (seconds ahead) a worker accepts; further ones fail at once
    #: with ``EtaTooFar`` instead of being held, and renewed, in the worker until then.
    max_eta: float = Field(7 * 86_400, gt=0)
    #: Most IDs a child coalesces from queued ``modelfleet.predict`` tasks into one model call
    #: (server-side micro-batching; below it, the child sizes batches from its own timed calls);
    #: 1 turns it off. A child that dies mid-batch leaves up to this many to run again (the
    #: parent requeues them within a second: celery_ext/follower_rescue.py).
    microbatch_max: int = Field(1024, ge=1, le=10_000)
    #: Milliseconds a child waits for more queued single-ID tasks once it found some.
    microbatch_wait_ms: float = Field(2.0, ge=0, le=1000)
    #: Task events (``task-received``, ``-started``, ``-succeeded``...), which Flower shows; the
    #: parent publishes them in batches (celery_ext/event_batch.py), so off saves little
    #: (benchmarks/plain.py measures it).
    task_events: bool = True
    #: More modules, comma-separated, the worker parent imports before it forks its children, so
    #: they share those pages (runtime/startup.py: the plug-in's own ``PRELOAD`` comes anyway).
    preload_modules: str = ""
    #: IDs per ``modelfleet.predict_to_sink`` task (one Parquet part each) when none is given.
    sink_chunk: int = Field(1000, ge=1, le=100_000)
    #: Sink tasks a producer keeps sent but unfinished per live worker child (back-pressure).
    sink_tasks_per_child: int = Field(4, ge=1, le=1000)
    #: Size in MB of the built-in ``mlp`` model's weights (float32).
    mlp_mb: float = Field(64.0, gt=0, le=4096)

    @field_validator("broker_url", "result_backend", "source_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(_REDIS_SCHEMES):
            raise ValueError(
                "must be a Redis URL (redis://host:port/db, rediss://..., unix://... or "
                "sentinel://host:port;sentinel://host2:port/db), "
                f"got {value.split('@')[-1]!r}"
            )
        if value is not None:
            _check_userinfo(value)
        if value is not None and value.startswith(("sentinel://", "sentinel+ssl://")):
            dbs = [urlsplit(chunk).path.strip("/") for chunk in value.split(";") if chunk]
            if {db for db in dbs if db} - {dbs[0] or "0"}:  # kombu and Celery use the first's
                raise ValueError(
                    f"the database is the first sentinel entry's ({dbs[0] or '0'}), not a later "
                    "one's: give every entry the same /db, sentinel://h1:26379/1;sentinel://h2:26379/1"
                )
        return value

    @cached_property
    def input_url(self) -> str:
        """The Redis URL the ``redis`` input source reads."""
        return self.source_url or self.broker_url

    @cached_property
    def worker_concurrency(self) -> int:
        """Pool children: the configured value, else the usable core count."""
        from worker_config.cores import usable_cores

        return self.concurrency or usable_cores()


def _check_userinfo(url: str) -> None:
    """Refuse a URL whose password holds an unencoded ``/``, ``?`` or ``#``.

    Such a URL parses with the password's tail as the host and path, which then shows in every
    log line that prints the URL with its password masked. The message never repeats the URL.
    """
    if url.startswith(("unix://", "redis+socket://")):
        return
    for part in url.split(";"):
        rest = part.partition("://")[2]
        authority = rest
        for stop in "/?#":
            authority = authority.partition(stop)[0]
        if "@" in rest and "@" not in authority:
            raise ValueError(
                "the user or password in this URL contains '/', '?' or '#', which must be "
                "percent-encoded ('/' as %2F, '?' as %3F, '#' as %23, '@' as %40); the URL is "
                "not repeated here because it holds the password"
            )


@cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return load_settings()


def load_settings() -> Settings:
    """Read settings from the environment; raise :class:`ConfigError` naming each bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            env = _env_name(field)
            problems.append(f"{env}: {err['msg']}")
        raise ConfigError("invalid settings: " + "; ".join(problems)) from None


def _env_name(field: str) -> str:
    if field in ("broker_url", "CELERY_BROKER_URL"):
        return "CELERY_BROKER_URL"
    if field in ("result_backend", "CELERY_RESULT_BACKEND"):
        return "CELERY_RESULT_BACKEND"
    return "MODELFLEET_" + field.upper()
