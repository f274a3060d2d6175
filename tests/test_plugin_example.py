"""examples/plugin/ is a complete plug-in: a real worker serves its model from its source."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import REPO, WorkerFactory, run_cli

PLUGIN = REPO / "examples" / "plugin"


def test_the_example_plugin_serves_its_model_and_gives_bad_inputs_error_items(
    worker_factory: WorkerFactory, fleet_env: dict[str, str], tmp_path: Path
) -> None:
    weights = tmp_path / "centroids.json"
    weights.write_text(json.dumps({"labels": ["low", "high"], "centroids": [[0, 0], [10, 10]]}))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, value in {"a": [1, 0.5], "b": [9, 11], "short": [1], "words": ["x", "y"]}.items():
        (inputs / f"{name}.json").write_text(json.dumps(value))
    env = {
        **fleet_env,
        # As if `pip install ./examples/plugin` had run on this host.
        "PYTHONPATH": os.pathsep.join([str(PLUGIN), fleet_env["PYTHONPATH"]]),
        "MODELFLEET_MODEL": "centroids.model:load",
        "MODELFLEET_SOURCE": "centroids.source:load",
        "MODELFLEET_MODEL_PATH": str(weights),
        "CENTROIDS_INPUT_DIR": str(inputs),
    }
    worker_factory(concurrency=1, env=env)
    done = run_cli(env, "enqueue", "a", "b", "short", "words", "nope", "../etc", "--wait")
    assert done.returncode == 1, done.stderr  # some items failed
    items = {item["id"]: item for item in map(json.loads, done.stdout.splitlines())}
    assert list(items) == ["a", "b", "short", "words", "nope", "../etc"]
    assert items["a"]["output"] == {"label": "low", "distance": 1.118034}
    assert items["b"]["output"]["label"] == "high"
    assert items["a"]["model"]["name"] == "centroids"
    assert len(items["a"]["model"]["version"]) == 12
    assert items["short"]["error"]["type"] == "InvalidInput"
    assert items["words"]["error"]["type"] == "InvalidInput"
    assert items["nope"]["error"]["type"] == "UnknownInput"
    assert items["../etc"]["error"]["type"] == "UnknownInput"
