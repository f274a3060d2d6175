"""The Sentinel compose file: a master and a replica with AOF, three sentinels agreeing on one
master with a quorum of two, and every fleet service pointed at all three sentinels."""

from __future__ import annotations

from typing import Any

import jsonschema
import yaml

from tests.cluster import deployfiles
from tests.cluster.test_deploy_files import COMPOSE_SCHEMA, _readme_names
from tests.conftest import settings_for
from worker_config import clients

SENTINEL_FILE = deployfiles.DEPLOY / "compose" / "compose.sentinel.yaml"


def _load() -> dict[str, Any]:
    env = deployfiles.read_env_file(deployfiles.COMPOSE_ENV)

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return deployfiles.interpolate(node, env)
        if isinstance(node, list):
            return [walk(x) for x in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return dict(walk(yaml.safe_load(SENTINEL_FILE.read_text())))


def test_sentinel_compose_has_a_replica_three_sentinels_and_points_the_fleet_at_them() -> None:
    override = _load()
    jsonschema.validate(override, COMPOSE_SCHEMA)
    services = override["services"]
    base = deployfiles.load_compose(deployfiles.read_env_file(deployfiles.COMPOSE_ENV))
    assert {"worker", "flower", "producer", "redis"} <= set(base["services"])

    for name in ("redis", "redis-replica"):
        command = services[name]["command"]
        assert {"--appendonly", "yes", "--masterauth"} <= set(command), name
    replica = services["redis-replica"]["command"]
    follows = replica.index("--replicaof")
    assert replica[follows + 1 : follows + 3] == ["redis", "6379"]
    sentinels = [services[f"sentinel-{i}"] for i in (1, 2, 3)]
    for sentinel in sentinels:
        script = sentinel["command"][0]
        assert "sentinel monitor modelfleet redis 6379 2" in script
        assert "--sentinel" in script

    for role in ("worker", "flower", "producer"):
        env = services[role]["environment"]
        assert not set(env) - _readme_names(), f"{role} uses names the README does not document"
        settings = settings_for(env)
        for url, db in ((settings.broker_url, 0), (settings.result_backend, 1)):
            target = clients.parse_sentinel_url(url)
            assert target.sentinels == tuple((f"sentinel-{i}", 26379) for i in (1, 2, 3))
            assert target.db == db and target.password
        assert settings.sentinel_master == "modelfleet" and settings.sentinel_password
