"""Celery's tracer renders results through :func:`worker_config.reprs.prefix_saferepr`."""

from __future__ import annotations

from celery.app import trace

from worker_config.reprs import prefix_saferepr


def install() -> None:
    """Use the prefix repr where Celery's tracer renders a result (log line, Flower); idempotent."""
    trace.saferepr = prefix_saferepr  # type: ignore[attr-defined]
