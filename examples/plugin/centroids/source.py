"""An input source plug-in: each input is a JSON file ``<id>.json`` in a directory.

The worker calls ``load(settings)`` once per child (``MODELFLEET_SOURCE=centroids.source:load``)
and then ``fetch(ids)`` for every batch: one raw input per ID, in order, or the ItemError that ID
gets. A plug-in may read its own environment variables, as this one does for its directory.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker_config.contract import InputId
from worker_config.errors import InvalidInput, ItemError, ModelLoadError, UnknownInput
from worker_config.settings import Settings

#: IDs that are safe as file names (no "../").
SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class DirectorySource:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fetch(self, ids: Sequence[InputId]) -> list[Any | ItemError]:
        return [self._one(input_id) for input_id in ids]

    def _one(self, input_id: InputId) -> Any | ItemError:
        name = str(input_id)
        if not SAFE_ID.fullmatch(name) or name.startswith("."):
            return UnknownInput(f"no input file can be named {name!r}")
        try:
            text = (self.folder / f"{name}.json").read_text()
        except FileNotFoundError:
            return UnknownInput(f"no file {name}.json in {self.folder}")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            return InvalidInput(f"{name}.json is not JSON: {exc}")


def load(settings: Settings) -> DirectorySource:
    folder = os.environ.get("CENTROIDS_INPUT_DIR")
    if not folder:
        raise ModelLoadError("centroids.source needs CENTROIDS_INPUT_DIR: the inputs' directory")
    return DirectorySource(Path(folder))
