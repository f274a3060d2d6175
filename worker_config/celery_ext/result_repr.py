"""Celery's repr of a task's result, without walking every item of a long result.

After each task Celery renders ``saferepr(result, resultrepr_maxsize)`` (1,024 characters by
default) for its log line and the ``task-succeeded`` event Flower shows. Its truncation stops
writing at the limit but then walks the rest of the value to close dangling brackets, so a
12,500-item batch result costs about 0.5 us per item: py-spy put it at ~6% of a child's samples
in ``make bench``'s map rows. A list or tuple longer than the limit can only show its first
``maxlen // 2 + 2`` items (each item and separator takes at least three characters), so the same
text comes from that prefix: items after it are containers opened after the cut, whose brackets
Celery skips, or scalars it does not print.
"""

from __future__ import annotations

from typing import Any

from celery.app import trace
from celery.utils.saferepr import saferepr


def prefix_saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3, seen: Any = None) -> str:
    """``saferepr`` with the same output, walking at most the items a long list can show."""
    if maxlen is not None and maxlen > 0 and type(o) in (list, tuple):
        shown = maxlen // 2 + 2
        if len(o) > shown:
            # Celery's repr of the prefix ends in ", ..." exactly when the whole value's does:
            # the cut falls inside the prefix, before its last item.
            return saferepr(o[:shown], maxlen, maxlevels, seen)
    return saferepr(o, maxlen, maxlevels, seen)


def install() -> None:
    """Use :func:`prefix_saferepr` where Celery's tracer renders results; idempotent."""
    trace.saferepr = prefix_saferepr  # type: ignore[attr-defined]
