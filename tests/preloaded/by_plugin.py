"""Named by ``tests.preload_plugins.PRELOAD``: imported by the worker parent, never by a child."""
