"""The reload board: a small JSON document in shared memory that a worker parent and its children
read and write (``reload.py``). Made by the parent before it forks, so every child shares it."""

from __future__ import annotations

import json
import mmap
import multiprocessing
from collections.abc import Callable
from typing import Any

#: Bytes of the board the parent and its children share (a JSON document).
BOARD_BYTES = 64 * 1024

State = dict[str, Any]


class Board:
    """A small JSON document in anonymous shared memory, made by the parent before it forks."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._memory = mmap.mmap(-1, BOARD_BYTES)
        self._lock = context.Lock()
        #: Held by the child that is loading, so the other children keep serving meanwhile.
        self.load_slot = context.Lock()

    def read(self) -> State:
        with self._lock:
            return self._read()

    def update(self, change: Callable[[State], None]) -> State:
        with self._lock:
            state = self._read()
            change(state)
            data = json.dumps(state).encode()
            if len(data) + 4 > BOARD_BYTES:
                raise ValueError("reload request too large")
            self._memory[: 4 + len(data)] = len(data).to_bytes(4, "little") + data
            return state

    def _read(self) -> State:
        size = int.from_bytes(self._memory[:4], "little")
        state: State = json.loads(self._memory[4 : 4 + size]) if size else {}
        state.setdefault("generation", 0)
        return state
