"""TLS for ``rediss://`` URLs: certificate checks on by default, options read from the URL.

kombu turns TLS on only when the transport is literally ``rediss`` (ours is a subclass, see
``transport.py``) and then skips certificate checks; Celery's result backend refuses a
``rediss://`` URL without ``ssl_cert_reqs``. Both get their options from here instead, so one
URL such as ``rediss://:pw@host:6380/0?ssl_ca_certs=/etc/modelfleet/ca.pem`` works everywhere
(redis-py's own ``from_url`` reads the same query parameters).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: How the ``ssl_cert_reqs`` query parameter is spelled, and what it means.
CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "cert_required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "cert_optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
    "cert_none": ssl.CERT_NONE,
}
#: Query parameters naming files: CA bundle, client certificate and key.
FILE_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
#: URL schemes that mean TLS: plain Redis, and Redis found through Sentinel (clients.py).
TLS_SCHEMES = ("rediss", "sentinel+ssl")


def ssl_options(url: str) -> dict[str, Any] | None:
    """redis-py SSL connection options for a TLS URL (``rediss://``); None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme not in TLS_SCHEMES:
        return None
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in CERT_REQS:
        raise ValueError(f"ssl_cert_reqs={reqs!r}; use one of: required, optional, none")
    options: dict[str, Any] = {"ssl_cert_reqs": CERT_REQS[reqs]}
    options.update({key: query[key] for key in FILE_KEYS if key in query})
    return options
