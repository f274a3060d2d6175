"""Flower's edges: no empty credentials, ``/metrics`` behind the login, no password in logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import run_cli
from tests.ecosystem.conftest import REPO, start_flower, stop, wait_http
from tests.ecosystem.test_flower import http

#: A password with an unencoded '/': the part after it used to show in logs as the host.
LEAKY_PASSWORD = "ss/w0rdTAIL"


def flower_exit(env: dict[str, str], log: Path, extra: dict[str, str]) -> tuple[int, str]:
    flower = start_flower(env, log, extra)
    try:
        code = flower.process.wait(timeout=60)
    finally:
        stop(flower.process)
    return code, flower.log()


def test_flower_refuses_empty_user_or_password_in_flower_basic_auth(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    for n, credentials in enumerate([":", "admin:", ":secret", "ok:fine, :"]):
        extra = {"FLOWER_BASIC_AUTH": credentials, "MODELFLEET_FLOWER_USER": ""}
        extra["MODELFLEET_FLOWER_PASSWORD"] = ""
        code, log = flower_exit(fleet_env, tmp_path / f"flower-{n}.log", extra)
        assert code == 78, (credentials, log)
        assert "empty user or password" in log


def test_flower_metrics_need_credentials_unless_opened(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    flower = start_flower(fleet_env, tmp_path / "flower.log")
    try:
        wait_http(flower)
        assert http(flower, "GET", "/metrics", auth=False)[0] == 401
        status, body = http(flower, "GET", "/metrics")
        assert status == 200 and "flower_" in body
    finally:
        stop(flower.process)
    opened = start_flower(
        fleet_env, tmp_path / "flower-open.log", {"MODELFLEET_FLOWER_OPEN_METRICS": "true"}
    )
    try:
        wait_http(opened)
        assert http(opened, "GET", "/metrics", auth=False)[0] == 200
        assert http(opened, "GET", "/api/workers", auth=False)[0] == 401  # only /metrics opened
    finally:
        stop(opened.process)


def test_a_url_with_an_unencoded_slash_in_the_password_is_refused_without_showing_it(
    fleet_env: dict[str, str], tmp_path: Path
) -> None:
    host = fleet_env["CELERY_BROKER_URL"].removeprefix("redis://")
    leaky = {**fleet_env, "CELERY_BROKER_URL": f"redis://:{LEAKY_PASSWORD}@{host}"}
    cli = run_cli(leaky, "status")
    assert cli.returncode == 5, cli.stderr
    worker = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "tasks", "worker", "--loglevel=INFO"],
        env=leaky, cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert worker.returncode != 0, worker.stderr  # refused while Celery reads its config
    code, flower_log = flower_exit(leaky, tmp_path / "flower.log", {})
    assert code == 78
    for output in (cli.stderr + cli.stdout, worker.stderr + worker.stdout, flower_log):
        assert "percent-encoded" in output
        assert "w0rd" not in output and "TAIL" not in output
