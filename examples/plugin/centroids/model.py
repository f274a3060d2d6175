"""A nearest-centroid classifier, as a modelfleet model plug-in.

The worker calls ``load(settings)`` once in each pool child
(``MODELFLEET_MODEL=centroids.model:load``) and keeps what it returns: an object with
``name``, ``version``, ``prepare(raw)`` and ``predict(inputs)``. Weights come from
``MODELFLEET_MODEL_PATH`` (``settings.model_path``): a JSON file
``{"labels": [...], "centroids": [[...], ...]}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from worker_config.errors import InvalidInput, ModelLoadError
from worker_config.settings import Settings


class CentroidModel:
    """Label of the nearest centroid, and its distance."""

    #: The model's name: its queue is <MODELFLEET_QUEUE>.centroids, and result items carry it.
    name = "centroids"

    def __init__(self, labels: list[str], centroids: np.ndarray, version: str) -> None:
        self.labels = labels
        self.centroids = centroids
        #: Shown by `modelfleet status` and in every result item: here, a hash of the weights.
        self.version = version

    def prepare(self, raw: Any) -> np.ndarray:
        """One raw input (what the source returned) -> one model input; InvalidInput if unusable.

        Raising InvalidInput gives this ID an error item; its neighbours in the batch still run.
        """
        width = self.centroids.shape[1]
        if not isinstance(raw, list) or len(raw) != width:
            raise InvalidInput(f"expected a list of {width} numbers, got {str(raw)[:80]}")
        if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw):
            raise InvalidInput(f"expected {width} numbers, got {str(raw)[:80]}")
        return np.asarray(raw, dtype=np.float64)

    def predict(self, inputs: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        """One vectorised call for the whole batch; one JSON-ready dict per input, in order."""
        batch = np.stack(inputs)
        distances = np.linalg.norm(batch[:, None, :] - self.centroids[None, :, :], axis=2)
        nearest = distances.argmin(axis=1)
        return [
            {"label": self.labels[i], "distance": round(float(distances[row, i]), 6)}
            for row, i in enumerate(nearest)
        ]


def load(settings: Settings) -> CentroidModel:
    """The factory modelfleet calls with its settings, once per child."""
    if settings.model_path is None:
        raise ModelLoadError("centroids needs MODELFLEET_MODEL_PATH: a JSON file of centroids")
    data = settings.model_path.read_bytes()
    weights = json.loads(data)
    centroids = np.asarray(weights["centroids"], dtype=np.float64)
    if centroids.ndim != 2 or len(weights["labels"]) != len(centroids):
        raise ModelLoadError(f"{settings.model_path}: one label per centroid, all the same width")
    return CentroidModel(list(weights["labels"]), centroids, hashlib.sha256(data).hexdigest()[:12])
