"""The only modules that touch Celery and kombu internals: transport, request, lease, control."""
