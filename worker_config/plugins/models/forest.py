"""A heavier CPU model: a 200-tree random forest on the bundled digits (no download).

About 6 ms for one row but 0.1 ms a row when vectorised, so it shows what per-task overhead and
batching cost. Trained deterministically once per machine and cached, like ``digits``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker_config.plugins.artifacts import build_once, file_version
from worker_config.plugins.models.digits import SEED, classify, prepare_row, split_ids

if TYPE_CHECKING:
    from worker_config.settings import Settings

#: Trees in the forest.
N_TREES = 200

#: Libraries load() imports, imported by the worker parent before the fork (runtime/startup.py).
PRELOAD = ("joblib", "sklearn.datasets", "sklearn.ensemble")


def _train(out: Path) -> None:
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    data = load_digits()
    train, _ = split_ids()
    forest = RandomForestClassifier(n_estimators=N_TREES, random_state=SEED, n_jobs=1)
    forest.fit(data.data[train], data.target[train])
    joblib.dump(forest, out)


@dataclass
class ForestModel:
    """Random forest on 8x8 digit images; output ``{"label", "confidence"}``."""

    forest: Any
    version: str
    name: str = "forest"

    def prepare(self, raw: Any) -> Any:
        return prepare_row(raw)

    def predict(self, inputs: Sequence[Any]) -> list[dict[str, Any]]:
        return classify(self.forest, inputs)


def load(settings: Settings) -> ForestModel:
    """Load the cached forest, training it first if this machine has none."""
    import joblib
    import sklearn

    path = settings.cache_dir / f"forest{N_TREES}-sklearn{sklearn.__version__}.joblib"
    build_once(path, _train)
    forest = joblib.load(path)
    forest.n_jobs = 1  # one core per child; the pool provides the parallelism
    # scikit-learn warns on every predict in a process without warning filters (a Celery child):
    # "sklearn.utils.parallel.delayed should be used with sklearn.utils.parallel.Parallel".
    warnings.filterwarnings("ignore", message=r".*sklearn\.utils\.parallel\.delayed")
    return ForestModel(forest=forest, version=file_version(path))
