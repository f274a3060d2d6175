"""Input source for the bundled digits data set: the ID is the row number."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from worker_config.errors import InvalidInput, ItemError, UnknownInput
from worker_config.plugins.models.digits import N_ROWS

#: What the source imports as it starts, imported by the worker parent before the fork.
PRELOAD = ("sklearn.datasets",)

if TYPE_CHECKING:
    from worker_config.contract import InputId
    from worker_config.settings import Settings


class DigitsSource:
    """Rows of scikit-learn's digits data, loaded once per child."""

    def __init__(self, settings: Settings | None = None) -> None:
        from sklearn.datasets import load_digits

        self._rows = load_digits().data

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        return [self._row(input_id) for input_id in ids]

    def _row(self, input_id: InputId) -> Any | ItemError:
        if isinstance(input_id, str):
            if not input_id.isdecimal():
                return InvalidInput(f"digits IDs are row numbers 0..{N_ROWS - 1}, got {input_id!r}")
            input_id = int(input_id)
        if not 0 <= input_id < N_ROWS:
            return UnknownInput(f"no digits row {input_id}; rows are 0..{N_ROWS - 1}")
        return self._rows[input_id]
