"""Flower's options from modelfleet's settings: basic auth from the environment, safe binding.

``celery -A tasks flower`` started in the repo root reads ``flowerconfig.py`` there (Flower's
default ``--conf``), which applies :func:`flower_options`.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from worker_config.errors import ConfigError
from worker_config.settings import Settings

#: Columns of Flower's task list: the arguments are IDs, so they are small enough to show.
TASK_COLUMNS = "name,uuid,state,args,result,received,runtime,worker"


def is_loopback(address: str) -> bool:
    """True if ``address`` (a host name or IP; empty means every interface) is loopback only."""
    if not address:
        return False
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(address, None)
            )
        except OSError:
            return False


def flower_options(settings: Settings, current: Any) -> dict[str, Any]:
    """Options to give Flower, given the ones it already parsed (``tornado.options.options``).

    Listens on 127.0.0.1 unless told otherwise (Flower's own default is every interface), and
    refuses to listen anywhere else without authentication.
    """
    options: dict[str, Any] = {"tasks_columns": TASK_COLUMNS}
    basic_auth = list(current.basic_auth or [])
    for number, credential in enumerate(basic_auth, 1):
        user, _, password = str(credential).partition(":")
        if not user.strip() or not password.strip():
            raise ConfigError(
                f"FLOWER_BASIC_AUTH credential {number} of {len(basic_auth)} has an empty user "
                "or password (anyone could log in with them); give each as user:password"
            )
    if not basic_auth and settings.flower_user and settings.flower_password:
        basic_auth = [f"{settings.flower_user}:{settings.flower_password.get_secret_value()}"]
        options["basic_auth"] = basic_auth
    elif bool(settings.flower_user) != bool(settings.flower_password):
        raise ConfigError(
            "set both MODELFLEET_FLOWER_USER and MODELFLEET_FLOWER_PASSWORD, or neither"
        )
    address = current.address or "127.0.0.1"
    options["address"] = address
    if not current.unix_socket and not is_loopback(address) and not basic_auth and not current.auth:
        raise ConfigError(
            f"Flower would listen on {address!r} without authentication; set "
            "MODELFLEET_FLOWER_USER and MODELFLEET_FLOWER_PASSWORD (or FLOWER_BASIC_AUTH), "
            "or listen on 127.0.0.1"
        )
    if basic_auth or current.auth:
        guard_metrics(open_metrics=settings.flower_open_metrics)
    return options


def guard_metrics(*, open_metrics: bool) -> None:
    """Put Flower's ``/metrics`` behind the same login as its pages and API.

    Flower serves ``/metrics`` (worker host names, task names and counts) to anyone, even with
    basic auth on; ``MODELFLEET_FLOWER_OPEN_METRICS=true`` keeps it open for a scraper that
    cannot authenticate.
    """
    from flower.views import monitor  # type: ignore[import-untyped]
    from tornado.web import authenticated

    handler: Any = monitor.Metrics
    original = getattr(handler, "_modelfleet_open_get", handler.get)
    handler._modelfleet_open_get = original
    handler.get = original if open_metrics else authenticated(original)
