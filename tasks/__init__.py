"""modelfleet's Celery app and tasks, where ``celery -A tasks`` finds them."""

from tasks import predict
from tasks.celery import app
from worker_config import lifecycle
from worker_config.celery_ext import control, lease
from worker_config.observe import metrics, probes, task_log

__all__ = ["app", "control", "lease", "lifecycle", "metrics", "predict", "probes", "task_log"]
