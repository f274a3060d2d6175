"""Reading IDs the way people type them: ``0-99 250 cat-7`` on the command line, or one per line."""

from __future__ import annotations

from collections.abc import Iterable

from worker_config.contract import InputId, validate_id


def parse_ids(tokens: Iterable[str]) -> list[InputId]:
    """Integers stay integers, ``a-b`` of two integers is an inclusive range, the rest strings."""
    ids: list[InputId] = []
    for raw in tokens:
        token = raw.strip()
        if not token:
            continue
        start, dash, end = token.partition("-")
        if dash and start.isdecimal() and end.isdecimal():
            low, high = int(start), int(end)
            step = 1 if high >= low else -1
            ids.extend(range(low, high + step, step))
        elif token.lstrip("-").isdecimal() and token.count("-") <= 1:
            ids.append(validate_id(int(token)))
        else:
            ids.append(validate_id(token))
    return ids
