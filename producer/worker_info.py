"""Ask each worker what it serves (the ``modelfleet_info`` inspect command), as a producer."""

from __future__ import annotations

from typing import Any

from producer.connection import client_app
from worker_config.contract import INFO_COMMAND
from worker_config.settings import Settings


def ask_workers(
    settings: Settings, timeout: float = 1.0, expected: int | None = None
) -> dict[str, dict[str, Any]]:
    """Each answering worker's reply by hostname; returns early once ``expected`` answered."""
    app = client_app(settings)
    try:
        replies = app.control.broadcast(INFO_COMMAND, reply=True, timeout=timeout, limit=expected)
    finally:
        app.close()
    return {host: reply for one in replies or [] for host, reply in one.items()}


def describe(reply: dict[str, Any]) -> str:
    """One line for ``modelfleet status``."""
    models = ", ".join(reply.get("models") or []) or "no model loaded yet"
    return (
        f"serves {models}; children alive {reply['children_alive']}/{reply['concurrency']}; "
        f"tasks done {reply['tasks_done']}, running {reply['tasks_active']}"
    )
