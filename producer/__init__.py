"""Producer side of modelfleet: send input IDs to the fleet, get ordered results back."""

from producer.executor import FleetExecutor, predict
from producer.jobs import Job
from worker_config.errors import JobExpired, JobTimeout

__all__ = ["FleetExecutor", "Job", "JobExpired", "JobTimeout", "predict"]
