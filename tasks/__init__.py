"""modelfleet's Celery app and tasks, where ``celery -A tasks`` finds them."""

from tasks import predict
from tasks.celery import app
from worker_config import control, lease, probes, signals

__all__ = ["app", "control", "lease", "predict", "probes", "signals"]
