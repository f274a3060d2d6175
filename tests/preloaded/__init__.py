"""Modules only the worker parent's preload step imports (tests/test_preload.py)."""
