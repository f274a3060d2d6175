"""The worker parent imports the heavy modules and freezes them before it forks (issue 12,
item 6), so children share those pages; the model itself still loads in each child."""

from __future__ import annotations

from producer.executor import FleetExecutor
from tests.conftest import WorkerFactory, settings_for


def test_children_inherit_preloaded_frozen_modules_and_still_load_the_model_themselves(
    fleet_env: dict[str, str], worker_factory: WorkerFactory
) -> None:
    env = {
        "MODELFLEET_MODEL": "tests.preload_plugins:reporting_model",
        "MODELFLEET_PRELOAD_MODULES": "tests.preloaded.by_setting, ",
        "MODELFLEET_MICROBATCH_MAX": "1",
    }
    worker_factory(concurrency=2, env=env)
    with FleetExecutor(settings_for({**fleet_env, **env}), batch_size=1) as executor:
        items = list(executor.map(range(40), timeout=90))
    seen = [item["output"]["at_load"] for item in items]
    assert len({s["pid"] for s in seen}) == 2  # both children answered
    for at_load in seen:
        # In sys.modules before the child loaded anything: only the parent imported them.
        assert at_load["modules"] == [
            "numpy", "tests.preloaded.by_plugin", "tests.preloaded.by_setting"
        ]  # fmt: skip
        assert at_load["sklearn_datasets"]  # the digits input source's PRELOAD
        assert at_load["frozen"] > 10_000  # the parent's objects, out of the collector's reach
