"""Flower's options from modelfleet's settings: basic auth from the environment, safe binding.

``celery -A tasks flower`` (and ``modelfleet flower``) loads our app, whose ``lifecycle.connect``
calls :func:`watch_options`: whatever directory Flower starts in, and whatever ``--conf`` file
it reads, :func:`flower_options` is applied once Flower has parsed its options, before it listens.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any

from worker_config.errors import ConfigError, ModelfleetError
from worker_config.settings import Settings, load_settings

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


#: How many times Flower parsed its options in this process (see :func:`_apply`).
_parses = 0
_watching = False


def watch_options() -> None:
    """Apply :func:`flower_options` each time Flower parses its options; idempotent.

    A no-op outside Flower: the callback is tornado's, and only Flower parses tornado options
    (``celery`` imports Flower's command, and so its options, as a plug-in of every command).
    """
    global _watching
    if _watching or "flower.options" not in sys.modules:
        return
    from tornado.options import options

    options.add_parse_callback(_apply)
    _watching = True


def _apply() -> None:
    """Flower parses the command line, then (if it exists) its ``--conf`` file and the command
    line again: the rules are checked on the last parse, and exit 78 when they are broken."""
    global _parses
    from tornado.options import options

    _parses += 1
    if _parses == 1 and os.path.exists(os.path.abspath(options.conf)):
        return  # Flower reads its config file next, then parses once more
    try:
        values = flower_options(load_settings(), options)
    except ModelfleetError as exc:
        print(f"modelfleet: {exc}", file=sys.stderr)
        sys.exit(os.EX_CONFIG)  # as the worker: a configuration error (sysexits.h), no restart
    for name, value in values.items():
        setattr(options, name, value)
