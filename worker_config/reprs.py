"""Celery's ``saferepr`` of long lists, without walking every item.

Celery renders ``saferepr(value, 1024)`` of a task's arguments (``argsrepr``, which a producer
writes into each message) and of its result (the worker's log line and the ``task-succeeded``
event Flower shows). Its truncation stops writing at the limit but then walks the rest of the
value to close dangling brackets: for a 12,500-item batch that is about 0.5 us per item, ~6% of
a child's samples and ~9% of the producer's in ``make bench``'s map rows.

A list or tuple longer than ``maxlen // 2 + 2`` items can only show that many (each item and
its separator take at least three characters, two if the item's repr is empty), so the same
text comes from that prefix: items after it are containers opened after the cut, whose
brackets Celery skips, or scalars it does not print. The same holds for a long list one level
down, such as the ID list in ``argsrepr``'s ``[[0, 1, ...]]``.
"""

from __future__ import annotations

from typing import Any

from celery.utils.saferepr import saferepr

SEQUENCES = (list, tuple)


def prefix_saferepr(o: Any, maxlen: int | None = None, maxlevels: int = 3, seen: Any = None) -> str:
    """``saferepr`` with the same output, walking at most the items a long list can show."""
    if maxlen is not None and maxlen > 0 and type(o) in SEQUENCES:
        o = _shown(o, maxlen // 2 + 2, nested=True)
    return saferepr(o, maxlen, maxlevels, seen)


def _shown(o: list[Any] | tuple[Any, ...], shown: int, nested: bool) -> Any:
    """``o`` cut to its first ``shown`` items, and (one level down) each long list in them."""
    kept = o[:shown] if len(o) > shown else o
    if not nested or not any(type(x) in SEQUENCES and len(x) > shown for x in kept):
        return kept
    cut = [_shown(x, shown, False) if type(x) in SEQUENCES else x for x in kept]
    return cut if type(o) is list else tuple(cut)
