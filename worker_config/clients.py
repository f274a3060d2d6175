"""The one place modelfleet makes Redis clients: one timeout and retry policy, every URL form.

Understands ``redis://``, ``rediss://`` (certificate rules from ``tls.py``), ``unix://`` (and
kombu's ``redis+socket://``) and kombu-style Sentinel URLs
(``sentinel://h1:26379/0;sentinel://h2:26379/0``, master name from ``MODELFLEET_SENTINEL_MASTER``).

Clients are cached per URL and purpose and shared by the threads of a process. After a fork,
redis-py's connection pool sees the new PID and opens its own connections, leaving the parent's
sockets alone, so a client made before the fork is safe to use in the child.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from worker_config.settings import Settings
from worker_config.tls import ssl_options

#: Schemes of kombu-style Sentinel URLs; ``+ssl`` speaks TLS to the master and the sentinels.
SENTINEL_SCHEMES = ("sentinel", "sentinel+ssl")
#: The port a Sentinel listens on when the URL names none.
SENTINEL_PORT = 26379


class Purpose(enum.Enum):
    """Why a client is made; each purpose has its own timeouts (see :data:`POLICIES`)."""

    #: Serving and bookkeeping in children, producers and the CLI.
    DEFAULT = "default"
    #: Calls that must answer or fail fast: the worker parent's event loop (every task waits
    #: meanwhile) and the CLI's "is Redis there" checks.
    SHORT = "short"


@dataclass(frozen=True)
class Policy:
    """Timeouts and retries: a command that hits a dropped connection is retried with backoff."""

    socket_timeout: float
    socket_connect_timeout: float
    retries: int
    backoff_base: float = 0.01
    backoff_cap: float = 1.0
    #: Seconds a pooled connection may idle before it is checked with a PING before use.
    health_check_interval: int = 30

    def options(self) -> dict[str, Any]:
        """redis-py connection keyword arguments."""
        return {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "health_check_interval": self.health_check_interval,
            "retry": Retry(
                ExponentialWithJitterBackoff(cap=self.backoff_cap, base=self.backoff_base),
                self.retries,
            ),
        }


POLICIES = {
    # redis-py's own retry defaults (10 tries, 10 ms doubling up to 1 s) ride out a Redis restart.
    Purpose.DEFAULT: Policy(socket_timeout=10.0, socket_connect_timeout=5.0, retries=10),
    Purpose.SHORT: Policy(socket_timeout=3.0, socket_connect_timeout=3.0, retries=1),
}


@dataclass(frozen=True)
class SentinelUrl:
    """What a Sentinel URL names: the sentinels, and the database and login on the master."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None
    tls: bool


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Split ``sentinel://[user:pw@]h1:p1[/db];sentinel://h2:p2/db`` as kombu and Celery do.

    The first entry gives the database and the master's login, like kombu's and Celery's
    Sentinel support; each entry gives one sentinel's address.
    """
    chunks = [chunk for chunk in url.split(";") if chunk]
    parts = [urlsplit(chunk) for chunk in chunks]
    schemes = {p.scheme for p in parts}
    if not parts or not schemes <= set(SENTINEL_SCHEMES) or len(schemes) > 1:
        raise ValueError("a Sentinel URL is sentinel://host:port;sentinel://host2:port/db")
    first = parts[0]
    path = first.path.strip("/")
    return SentinelUrl(
        sentinels=tuple((p.hostname or "localhost", p.port or SENTINEL_PORT) for p in parts),
        db=int(path or 0),
        username=unquote(first.username) if first.username else None,
        password=unquote(first.password) if first.password else None,
        tls=first.scheme == "sentinel+ssl",
    )


def sentinel_tls(url: str) -> dict[str, Any] | None:
    """TLS options of a Sentinel URL, from whichever entry carries the ``ssl_*`` query."""
    chunks = [chunk for chunk in url.split(";") if chunk]
    with_query = [chunk for chunk in chunks if urlsplit(chunk).query]
    return ssl_options((with_query or chunks)[-1]) if chunks else None


def make_client(settings: Settings, url: str, purpose: Purpose) -> redis.Redis:
    """A new client for ``url`` with ``purpose``'s policy (no cache: see :class:`Clients`)."""
    options = POLICIES[purpose].options()
    scheme = urlsplit(url).scheme
    if scheme in SENTINEL_SCHEMES:
        return _sentinel_client(settings, url, options)
    if scheme == "redis+socket":  # kombu's name for a Unix socket; redis-py says unix://
        url = "unix" + url.removeprefix("redis+socket")
    tls = ssl_options(url)
    if tls is not None:
        # tls.py decides what the ssl_* parameters mean, for Celery and for us alike.
        url, options = _without_ssl_query(url), {**options, **tls}
    return redis.Redis.from_url(url, **options)


def _without_ssl_query(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if not k.startswith("ssl_")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _sentinel_client(settings: Settings, url: str, options: dict[str, Any]) -> redis.Redis:
    target = parse_sentinel_url(url)
    tls = (sentinel_tls(url) or {}) if target.tls else {}
    master_tls = {"ssl": True, **tls} if target.tls else {}
    client: redis.Redis = _sentinel(settings, url, options).master_for(  # type: ignore[no-untyped-call]
        settings.sentinel_master, db=target.db, **master_tls
    )
    return client


def sentinels(
    settings: Settings, url: str, purpose: Purpose = Purpose.SHORT
) -> list[tuple[str, redis.Redis]]:
    """``host:port`` and a client of each sentinel a Sentinel URL names, to ask for its view."""
    found = _sentinel(settings, url, POLICIES[purpose].options())
    names = [f"{host}:{port}" for host, port in parse_sentinel_url(url).sentinels]
    return list(zip(names, found.sentinels, strict=True))


def _sentinel(settings: Settings, url: str, options: dict[str, Any]) -> Sentinel:
    target = parse_sentinel_url(url)
    tls = (sentinel_tls(url) or {}) if target.tls else {}
    password = settings.sentinel_password
    sentinel_options = {
        **{k: v for k, v in options.items() if k.startswith("socket_")},
        **({"ssl": True, **tls} if target.tls else {}),
        **({"password": password.get_secret_value()} if password else {}),
    }
    login = {"username": target.username, "password": target.password}
    return Sentinel(  # type: ignore[no-untyped-call]
        list(target.sentinels),
        sentinel_kwargs=sentinel_options,
        **options,
        **{k: v for k, v in login.items() if v is not None},
    )


class Clients:
    """Clients by URL and purpose, made on first use and shared by the process's threads.

    No lock: two threads racing for a new key make two clients and keep one, and a lock held
    by another thread at fork time would deadlock the child.
    """

    def __init__(self) -> None:
        self._made: dict[tuple[Any, ...], redis.Redis] = {}

    def get(self, settings: Settings, url: str, purpose: Purpose = Purpose.DEFAULT) -> redis.Redis:
        """The client for ``url`` and ``purpose``; Sentinel settings are part of the key."""
        secret = settings.sentinel_password
        key = (url, purpose, settings.sentinel_master, secret and secret.get_secret_value())
        client = self._made.get(key)
        if client is None:
            client = self._made.setdefault(key, make_client(settings, url, purpose))
        return client

    def close(self) -> None:
        """Close every client's connections (they reconnect if used again) and forget them."""
        made, self._made = self._made, {}
        for client in made.values():
            client.close()


#: This process's clients.
CLIENTS = Clients()


def backend(settings: Settings, purpose: Purpose = Purpose.DEFAULT) -> redis.Redis:
    """The result backend's Redis, where modelfleet keeps its own records too."""
    return CLIENTS.get(settings, settings.result_backend, purpose)


def broker(settings: Settings, purpose: Purpose = Purpose.DEFAULT) -> redis.Redis:
    """The broker's Redis (queues and kombu's unacknowledged-message keys)."""
    return CLIENTS.get(settings, settings.broker_url, purpose)


def for_url(settings: Settings, url: str, purpose: Purpose = Purpose.DEFAULT) -> redis.Redis:
    """Any other Redis URL, e.g. the ``redis`` input source's."""
    return CLIENTS.get(settings, url, purpose)
