"""Named by ``MODELFLEET_PRELOAD_MODULES`` in tests/test_preload.py."""
