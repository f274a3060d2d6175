"""Worker side of modelfleet: settings, Celery configuration, lifecycle signals and plug-ins."""
