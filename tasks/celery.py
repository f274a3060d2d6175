"""The Celery app, configured lazily from modelfleet's settings."""

from __future__ import annotations

from celery import Celery

from worker_config.celeryconfig import celery_config
from worker_config.settings import get_settings

app = Celery("modelfleet")
# A promise: the environment is read when Celery first needs its configuration, not at import.
app.add_defaults(lambda: celery_config(get_settings()))
# Celery's Redis or Sentinel result backend, waiting for replicas if MODELFLEET_REPLICA_ACKS.
app.backend_cls = "worker_config.celery_ext.backend:result_backend"
