"""The deploy files are checked offline: Compose against its schema rules (or ``docker compose
config`` where a Compose client exists), Kubernetes manifests against the Kubernetes schemas
(kubernetes-validate), and the promises they make (graceful stop, probes, KEDA lists) by value.
The netns tests in test_cluster.py then run the same Redis and worker commands."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from producer.status import PRIORITY_SEP, PRIORITY_STEPS
from tests.cluster import deployfiles
from tests.cluster.deployfiles import DEPLOY, REPO
from worker_config.routing import worker_queues
from worker_config.settings import Settings

KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.30.0"

#: The subset of the Compose specification these files use, strictly: a misspelt key fails.
SERVICE_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        key: {}
        for key in (
            "build", "command", "entrypoint", "environment", "healthcheck", "image", "ports",
            "volumes", "depends_on", "restart", "stop_signal", "stop_grace_period", "profiles",
            "deploy", "networks", "env_file", "user", "working_dir",
        )
    },
}  # fmt: skip
COMPOSE_SCHEMA = {
    "type": "object",
    "required": ["services"],
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string"},
        "services": {"type": "object", "additionalProperties": SERVICE_SCHEMA},
        "volumes": {"type": "object"},
    },
    "additionalProperties": False,
}


def _readme_names() -> set[str]:
    text = (REPO / "README.md").read_text()
    return set(re.findall(r"^\| `([A-Z_]+)`", text, flags=re.M)) | set(
        re.findall(r"`(MODELFLEET_[A-Z_]+)`", text)
    )


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", value)
    assert match and value, f"not a duration: {value!r}"
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_compose_file_is_valid_and_scalable() -> None:
    env = deployfiles.read_env_file(deployfiles.COMPOSE_ENV)
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True, check=False
    ).returncode == 0:  # fmt: skip
        done = subprocess.run(
            ["docker", "compose", "-f", str(deployfiles.COMPOSE_FILE), "--env-file",
             str(deployfiles.COMPOSE_ENV), "config", "--quiet"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    compose = deployfiles.load_compose(env)
    jsonschema.validate(compose, COMPOSE_SCHEMA)
    services = compose["services"]

    assert {"--appendonly", "yes"} <= set(services["redis"]["command"])
    assert "healthcheck" in services["redis"]
    worker = services["worker"]
    # --scale needs no fixed container name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["healthcheck"]["test"] == ["CMD", "modelfleet", "probe", "ready"]
    assert _seconds(worker["stop_grace_period"]) > float(env["MODELFLEET_TASK_TIME_LIMIT"])
    flower = services["flower"]["environment"]
    assert flower["MODELFLEET_FLOWER_PASSWORD"] and flower["FLOWER_UNAUTHENTICATED_API"] == "false"
    # Compose needs every secret set: an unset password is an error, not an open Redis.
    with pytest.raises(KeyError, match="REDIS_PASSWORD"):
        deployfiles.load_compose({})
    unknown = set(worker["environment"]) - _readme_names()
    assert not unknown, f"compose uses names the README does not document: {unknown}"


def test_systemd_units_stop_gracefully_restart_and_read_an_environment_file() -> None:
    env = deployfiles.read_env_file(deployfiles.WORKER_UNIT.with_name("modelfleet.env"))
    for unit in (deployfiles.WORKER_UNIT, deployfiles.FLOWER_UNIT):
        service = deployfiles.read_unit(unit)
        assert service["EnvironmentFile"] == "/etc/modelfleet/modelfleet.env"
        assert service["Restart"] in {"on-failure", "always"}
        assert service["RestartPreventExitStatus"] == "78"
        argv = deployfiles.exec_start(unit, env, "host1")
        assert argv[0].startswith(str(REPO)) and argv[1:3] == ["-A", "tasks"]
    worker = deployfiles.read_unit(deployfiles.WORKER_UNIT)
    assert float(worker["TimeoutStopSec"]) > float(env["MODELFLEET_TASK_TIME_LIMIT"])
    assert worker["KillMode"] == "mixed"
    settings_names = {n for n in env if n.startswith(("CELERY_", "MODELFLEET_"))}
    unit_only = {"MODELFLEET_LOGLEVEL", "MODELFLEET_FLOWER_ADDRESS"}  # used in ExecStart lines
    assert not settings_names - _readme_names() - unit_only


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, doc)
        for path in sorted(KUBERNETES.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


@pytest.mark.parametrize(
    "path, doc",
    [m for m in _manifests() if not m[1]["apiVersion"].startswith("keda.sh/")],
    ids=lambda x: x.name if isinstance(x, Path) else x["kind"],
)
def test_kubernetes_manifest_matches_the_kubernetes_schema(path: Path, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{path.name}: {str(exc).splitlines()[0]}")


def test_worker_deployment_outlasts_its_tasks_and_probes_by_files() -> None:
    workers = [
        d
        for _, d in _manifests()
        if d["kind"] == "Deployment" and "worker" in d["metadata"]["name"]
    ]
    assert workers
    for deployment in workers:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert pod["terminationGracePeriodSeconds"] > float(env["MODELFLEET_TASK_TIME_LIMIT"])
        assert container["resources"]["limits"]["cpu"]
        for probe, what in (
            ("startupProbe", "ready"),
            ("readinessProbe", "ready"),
            ("livenessProbe", "alive"),
        ):
            assert container[probe]["exec"]["command"][:3] == ["modelfleet", "probe", what]


def test_keda_scales_each_model_on_every_list_of_its_queues() -> None:
    docs = [d for _, d in _manifests()]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    scaled = [d for d in docs if d["kind"] == "ScaledObject"]
    auths = {d["metadata"]["name"] for d in docs if d["kind"] == "TriggerAuthentication"}
    assert scaled
    for obj in scaled:
        spec = obj["spec"]
        target = deployments[spec["scaleTargetRef"]["name"]]
        container = target["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in container["env"]}
        queues = worker_queues(Settings(model=env["MODELFLEET_MODEL"]))
        expected = {q for q in queues} | {
            f"{q}{PRIORITY_SEP}{p}" for q in queues for p in PRIORITY_STEPS
        }
        triggers = spec["triggers"]
        assert {t["metadata"]["listName"] for t in triggers} == expected
        assert all(
            t["type"] == "redis" and t["authenticationRef"]["name"] in auths for t in triggers
        )
        names = [t["name"] for t in triggers]
        formula = spec["advanced"]["scalingModifiers"]["formula"]
        assert sorted(formula.replace(" ", "").split("+")) == sorted(names)
        assert spec["minReplicaCount"] >= 1  # a warm pod; scale-in relies on graceful stop
