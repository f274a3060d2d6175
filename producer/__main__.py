"""``python -m producer`` is the ``modelfleet`` command."""

from producer.cli import main

main()
