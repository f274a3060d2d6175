"""``make bench``: modelfleet against a serial loop, thread and process pools and stock Celery,
measured side by side in one run on the same model, IDs and machine (``python -m benchmarks``).
"""
