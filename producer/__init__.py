"""Producer side of modelfleet: send input IDs to the fleet, get ordered results back."""

from producer.executor import FleetExecutor, predict
from producer.jobs import Job, JobExpired, JobTimeout

__all__ = ["FleetExecutor", "Job", "JobExpired", "JobTimeout", "predict"]
