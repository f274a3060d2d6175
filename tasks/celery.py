"""The Celery app, configured lazily from modelfleet's settings."""

from __future__ import annotations

from celery import Celery

from worker_config.celeryconfig import app_config

app = Celery("modelfleet")
# A promise: the environment is read when Celery first needs its configuration, not at import.
app.add_defaults(app_config)
