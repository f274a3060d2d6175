"""MiniLM embeddings to Parquet: 20,000 texts, the embedding a list column of 384 floats.

Through the result backend this job is ~160 MB of JSON in Redis; here Redis keeps receipts.
``MODELFLEET_SLOW_TEXTS`` scales it down on a slower machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import redis

pytest.importorskip("torch", reason="needs the text extra: pip install 'modelfleet[text]'")
pq = pytest.importorskip("pyarrow.parquet")
pa = pytest.importorskip("pyarrow")

from producer import FleetExecutor  # noqa: E402
from tests.conftest import WorkerFactory, settings_for  # noqa: E402
from tests.test_minilm import reference_embeddings  # noqa: E402

N = int(os.environ.get("MODELFLEET_SLOW_TEXTS", "20000"))


@pytest.mark.timeout(900)
def test_minilm_texts_to_parquet_with_embeddings_as_a_list_column(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    extra = {"MODELFLEET_MODEL": "minilm", "MODELFLEET_SOURCE": "redis"}
    settings = settings_for({**fleet_env, **extra})
    texts = [f"sentence {i} about the weather in town {i % 97}" for i in range(N)]
    inputs = redis.Redis.from_url(settings.input_url)
    with inputs.pipeline(transaction=False) as pipe:
        for i, text in enumerate(texts):
            pipe.set(f"{settings.input_prefix}t{i}", json.dumps(text))
        pipe.execute()
    worker = worker_factory(env=extra, wait=False)
    worker.wait_ready(settings, 2, timeout=400)  # torch loads slowly on a busy machine

    with FleetExecutor(settings, batch_size=200) as ex:
        result = ex.map_to_sink((f"t{i}" for i in range(N)), (tmp_path / "emb").as_uri())
    assert (result.rows, result.errors) == (N, 0)

    table = pq.read_table(tmp_path / "emb", columns=["id", "embedding"])
    assert table.num_rows == N
    assert pa.types.is_list(table.schema.field("embedding").type)
    assert sorted(table.column("id").to_pylist()) == sorted(f"t{i}" for i in range(N))
    column = table.column
    rows = dict(zip(column("id").to_pylist(), column("embedding").to_pylist(), strict=True))
    sample = list(range(0, N, max(1, N // 8)))
    got = np.array([rows[f"t{i}"] for i in sample])
    assert got.shape == (len(sample), 384)
    want = reference_embeddings([texts[i] for i in sample])
    cosine = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() > 0.999, cosine
