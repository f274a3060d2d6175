"""modelfleet's Celery app and tasks, where ``celery -A tasks`` finds them."""

from tasks import predict, sink
from tasks.celery import app
from worker_config import lifecycle

# Every worker hook is wired here, explicitly, in the order lifecycle.py writes down.
lifecycle.connect(app)

__all__ = ["app", "predict", "sink"]
