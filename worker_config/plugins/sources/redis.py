"""Input source for other apps: each input is stored as JSON under ``<prefix><id>`` in Redis."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from worker_config import clients
from worker_config.errors import InvalidInput, ItemError, UnknownInput

if TYPE_CHECKING:
    from worker_config.contract import InputId
    from worker_config.settings import Settings


class RedisSource:
    """Reads a batch of inputs in one MGET."""

    def __init__(self, settings: Settings) -> None:
        self._client = clients.for_url(settings, settings.input_url)
        self._prefix = settings.input_prefix

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        if not ids:
            return []
        values = self._client.mget([f"{self._prefix}{input_id}" for input_id in ids])
        return [self._decode(i, v) for i, v in zip(ids, values, strict=True)]

    def _decode(self, input_id: InputId, value: bytes | str | None) -> Any | ItemError:
        if value is None:
            return UnknownInput(f"no input stored under {self._prefix}{input_id}")
        try:
            return json.loads(value)
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested too deep
            reason = "nested too deeply" if isinstance(exc, RecursionError) else "not JSON"
            return InvalidInput(
                f"input under {self._prefix}{input_id} is {reason}: {type(exc).__name__}"
            )
