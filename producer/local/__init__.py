"""What runs on this machine for the demo and the tests: a private Redis, a worker, the demo.

Kept apart from the client API (``FleetExecutor``, ``Job``): a producer never starts servers.
"""
