"""A model that is one weights file: a dense layer ``x @ W`` read from a 2-D ``.npy`` file.

The file (``MODELFLEET_MODEL_PATH``) is mapped read-only, so every child of every worker on a
machine shares one copy however large it is (``MODELFLEET_MMAP_WEIGHTS=false`` loads a private
copy per child instead, for comparison). Its version is a hash of the bytes actually mapped, so
a new file written in place (``mapped.save_npy``) shows up as a new version after a reload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker_config.errors import InvalidInput, ModelLoadError
from worker_config.plugins.mapped import array_version, load_npy

if TYPE_CHECKING:
    from worker_config.settings import Settings


@dataclass
class DenseModel:
    """Scores ``x @ W`` for an input vector ``x``; output ``{"label", "score"}`` of the best."""

    weights: Any
    version: str
    name: str = "dense"

    def prepare(self, raw: Any) -> Any:
        import numpy as np

        rows = self.weights.shape[0]
        if not isinstance(raw, list) or len(raw) != rows:
            raise InvalidInput(f"dense input must be a list of {rows} numbers")
        try:
            row = np.asarray(raw, dtype=self.weights.dtype)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"dense input must be numbers: {exc}") from None
        if not np.isfinite(row).all():
            raise InvalidInput("dense input contains NaN or infinity")
        return row

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        import numpy as np

        scores = np.vstack(inputs) @ self.weights
        best = scores.argmax(axis=1)
        return [
            {"label": int(i), "score": round(float(s[i]), 6)}
            for i, s in zip(best, scores, strict=True)
        ]


def load(settings: Settings) -> DenseModel:
    """Map the weights file; hashing it for the version also brings every page in once."""
    if settings.model_path is None:
        raise ModelLoadError("model 'dense' needs a weights file: set MODELFLEET_MODEL_PATH")
    try:
        weights = load_npy(settings.model_path, mapped=settings.mmap_weights)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"model 'dense': cannot load {settings.model_path}: {exc}") from exc
    if weights.ndim != 2 or weights.dtype.kind != "f":
        raise ModelLoadError(
            f"model 'dense': {settings.model_path} holds a {weights.ndim}-D {weights.dtype} "
            "array; it needs a 2-D float array (inputs x outputs)"
        )
    return DenseModel(weights=weights, version=array_version(weights))
