"""The default model: a scikit-learn classifier on the bundled handwritten digits (no download).

Trained deterministically the first time a machine needs it and cached; every other child loads
the cached file. scikit-learn is imported only when a child loads the model.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker_config.errors import InvalidInput
from worker_config.plugins.artifacts import build_once, file_version

if TYPE_CHECKING:
    from worker_config.settings import Settings

logger = logging.getLogger(__name__)

#: Libraries load() imports, imported by the worker parent before the fork (runtime/startup.py).
PRELOAD = (
    "joblib",
    "sklearn.datasets",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "sklearn.preprocessing",
)

#: Number of rows in scikit-learn's digits data set; IDs are 0..N_ROWS-1.
N_ROWS = 1797
#: Features per row: an 8x8 image with pixel values 0..16.
N_FEATURES = 64
#: Seed for the train/held-out split and the classifier, so every machine trains the same model.
SEED = 0
#: Share of rows held out from training, to measure accuracy honestly.
HELD_OUT = 0.25


def split_ids() -> tuple[list[int], list[int]]:
    """The row IDs the model trains on and those held out, the same on every machine."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    target = load_digits().target
    train, test = train_test_split(
        list(range(N_ROWS)), test_size=HELD_OUT, random_state=SEED, stratify=target
    )
    return sorted(train), sorted(test)


def _train(out: Path) -> None:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    logger.info("training the digits model into %s", out)
    data = load_digits()
    train, _ = split_ids()
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=SEED))
    pipeline.fit(data.data[train], data.target[train])
    joblib.dump(pipeline, out)


def prepare_row(raw: Any) -> Any:
    """One image as a float64 row; raise :class:`InvalidInput` if it is not 64 finite numbers."""
    import numpy as np

    if not isinstance(raw, Sequence | np.ndarray) or isinstance(raw, str | bytes):
        raise InvalidInput(
            f"digits input must be a list of {N_FEATURES} numbers, got {type(raw).__name__}"
        )
    if len(raw) != N_FEATURES:
        raise InvalidInput(f"digits input must have {N_FEATURES} numbers, got {len(raw)}")
    try:
        row = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"digits input must be numbers: {exc}") from None
    if not np.isfinite(row).all():
        raise InvalidInput("digits input contains NaN or infinity")
    return row


def classify(estimator: Any, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """One ``predict_proba`` call; per row the likeliest class and its probability."""
    import numpy as np

    proba = estimator.predict_proba(np.vstack(rows))
    classes = estimator.classes_
    return [
        {"label": int(classes[i]), "confidence": round(float(p[i]), 6)}
        for i, p in zip(proba.argmax(axis=1), proba, strict=True)
    ]


@dataclass
class DigitsModel:
    """Logistic regression on 8x8 digit images; output ``{"label", "confidence"}``."""

    pipeline: Any
    version: str
    name: str = "digits"

    def prepare(self, raw: Any) -> Any:
        return prepare_row(raw)

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        return classify(self.pipeline, inputs)


def model_path(settings: Settings) -> Path:
    """Where this machine caches the trained model, one file per scikit-learn version."""
    import sklearn

    return settings.cache_dir / f"digits-sklearn{sklearn.__version__}.joblib"


def load(settings: Settings) -> DigitsModel:
    """Load the cached model, training it first if this machine has none."""
    import joblib

    path = build_once(model_path(settings), _train)
    return DigitsModel(pipeline=joblib.load(path), version=file_version(path))
