"""Watching workers: Prometheus metrics, one log line per task, readiness and liveness probes."""
