"""modelfleet's Celery app and tasks, where ``celery -A tasks`` finds them."""

from tasks import predict
from tasks.celery import app
from worker_config import control, lease, metrics, probes, signals, task_log

__all__ = ["app", "control", "lease", "metrics", "predict", "probes", "signals", "task_log"]
