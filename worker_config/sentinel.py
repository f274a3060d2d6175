"""What Celery, kombu and Flower need to find the Redis master through Sentinel.

They all speak ``sentinel://h1:26379/0;sentinel://h2:26379/0`` with a ``master_name`` and
``sentinel_kwargs`` transport option, but not our ``sentinel+ssl://``: kombu would read the
``+`` as "transport ``sentinel``, host ``ssl://...``". So they get plain ``sentinel://`` URLs,
and TLS (checked as ``tls.py`` says) through ``broker_use_ssl`` / ``redis_backend_use_ssl``
for the master and ``sentinel_kwargs`` for the sentinels. Our own clients come from
``clients.py``, which reads both schemes directly.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from worker_config.clients import POLICIES, SENTINEL_SCHEMES, Purpose, sentinel_tls
from worker_config.settings import Settings
from worker_config.tls import ssl_options


def is_sentinel(url: str) -> bool:
    """True for a ``sentinel://`` or ``sentinel+ssl://`` URL."""
    return urlsplit(url.split(";", 1)[0]).scheme in SENTINEL_SCHEMES


def celery_url(url: str) -> str:
    """``url`` as Celery and kombu understand it: ``sentinel://`` entries without TLS query."""
    if not is_sentinel(url):
        return url
    chunks = [urlsplit(chunk) for chunk in url.split(";") if chunk]
    return ";".join(
        urlunsplit(c._replace(scheme="sentinel", query="", fragment="")) for c in chunks
    )


def ssl_for_celery(url: str) -> dict[str, Any] | None:
    """``broker_use_ssl`` / ``redis_backend_use_ssl`` for ``url`` (None: no TLS)."""
    return sentinel_tls(url) if is_sentinel(url) else ssl_options(url)


def transport_options(settings: Settings, url: str) -> dict[str, Any]:
    """kombu's and Celery's Sentinel options for ``url``: master name, how to reach sentinels."""
    if not is_sentinel(url):
        return {}
    policy = POLICIES[Purpose.DEFAULT]
    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": policy.socket_timeout,
        "socket_connect_timeout": policy.socket_connect_timeout,
    }
    tls = sentinel_tls(url)
    if tls is not None:
        sentinel_kwargs.update(ssl=True, **tls)
    if settings.sentinel_password:
        sentinel_kwargs["password"] = settings.sentinel_password.get_secret_value()
    return {"master_name": settings.sentinel_master, "sentinel_kwargs": sentinel_kwargs}
