"""Progress on stderr: a bar on a terminal, a plain line every few seconds otherwise.

click's bar draws nothing but its label until the end when stderr is not a terminal (CI logs,
``make demo > log``), so a long run there looked stuck.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

#: Seconds between progress lines when stderr is not a terminal.
LINE_EVERY = 3.0


@contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yield ``update(n)``, which adds ``n`` done items to the progress shown on stderr."""
    if sys.stderr.isatty():
        with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
            yield bar.update
        return
    done, last = 0, time.monotonic()

    def line() -> None:
        click.echo(f"{label}: {done}/{length} ({100 * done // max(length, 1)}%)", err=True)

    def update(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= LINE_EVERY:
            last = time.monotonic()
            line()

    yield update
    line()
