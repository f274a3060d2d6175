"""A memory-bandwidth-bound model: a wide numpy MLP on the bundled digits, sized by setting.

Its weights (``MODELFLEET_MLP_MB`` megabytes of float32) are random features with a
least-squares read-out, built deterministically once per machine and memory-mapped, so the
children of a worker share one copy. One row reads every weight; a batch reads them once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker_config.plugins.artifacts import build_once, file_version
from worker_config.plugins.models.digits import N_FEATURES, SEED, prepare_row, split_ids

if TYPE_CHECKING:
    from worker_config.settings import Settings

#: Output classes: the ten digits.
N_CLASSES = 10
#: Bump when the way weights are built changes, so caches are rebuilt.
FORMAT = 1


def hidden_width(size_mb: float) -> int:
    """Width of the two hidden layers whose float32 weights take about ``size_mb`` MB."""
    params = size_mb * 1e6 / 4
    # 64*h + h*h + h*10 parameters; solve h^2 + 74h - params = 0.
    return max(16, int((-74 + math.sqrt(74 * 74 + 4 * params)) / 2))


def _shapes(width: int) -> list[tuple[int, int]]:
    return [(N_FEATURES, width), (width, width), (width, N_CLASSES)]


def _build(width: int, out: Path) -> None:
    import numpy as np
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(SEED)
    w1 = rng.standard_normal((N_FEATURES, width), dtype=np.float32) / np.float32(16 * 8)
    w2 = rng.standard_normal((width, width), dtype=np.float32) / np.float32(math.sqrt(width))
    data = load_digits()
    train, _ = split_ids()
    features = _hidden(data.data[train].astype(np.float32), w1, w2)
    targets = np.eye(N_CLASSES, dtype=np.float32)[data.target[train]]
    # Ridge read-out in the dual (rows << width), so building stays fast at any width.
    gram = features @ features.T + np.eye(len(train), dtype=np.float32)
    w3 = (features.T @ np.linalg.solve(gram, targets)).astype(np.float32)
    flat = np.concatenate([w.ravel() for w in (w1, w2, w3)])
    with out.open("wb") as handle:
        np.save(handle, flat)


def _hidden(x: Any, w1: Any, w2: Any) -> Any:
    import numpy as np

    h = np.maximum(x @ w1, 0)
    return np.maximum(h @ w2, 0)


@dataclass
class MlpModel:
    """Two wide ReLU layers and a linear read-out; output ``{"label", "confidence"}``."""

    weights: list[Any]
    version: str
    name: str = "mlp"

    def prepare(self, raw: Any) -> Any:
        return prepare_row(raw).astype("float32")

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        import numpy as np

        w1, w2, w3 = self.weights
        logits = _hidden(np.vstack(inputs), w1, w2) @ w3
        logits = logits - logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        best = proba.argmax(axis=1)
        return [
            {"label": int(i), "confidence": round(float(p[i]), 4)}
            for i, p in zip(best, proba, strict=True)
        ]


def load(settings: Settings) -> MlpModel:
    """Memory-map the cached weights, building them first if this machine has none."""
    import numpy as np

    width = hidden_width(settings.mlp_mb)
    path = settings.cache_dir / f"mlp-w{width}-f{FORMAT}.npy"
    build_once(path, lambda out: _build(width, out))
    flat = np.load(path, mmap_mode="r")
    weights, start = [], 0
    for rows, cols in _shapes(width):
        weights.append(flat[start : start + rows * cols].reshape(rows, cols))
        start += rows * cols
    return MlpModel(weights=weights, version=f"w{width}-{file_version(path)}")
