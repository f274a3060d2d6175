"""Read the deploy files as their runners do: Compose's ``${VAR}`` interpolation, systemd's
``EnvironmentFile`` and ``ExecStart``, so the tests run exactly the commands users will."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = DEPLOY / "compose" / "compose.yaml"
COMPOSE_ENV = DEPLOY / "compose" / "example.env"
WORKER_UNIT = DEPLOY / "systemd" / "modelfleet-worker.service"
FLOWER_UNIT = DEPLOY / "systemd" / "modelfleet-flower.service"
#: Where the units expect the code; the tests run the same lines from this checkout.
INSTALL_DIR = "/opt/modelfleet"

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_]\w*)")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's rules: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$`` is ``$``."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, arg = match.group(2), match.group(3) or ""
        value = env.get(name)
        if op and op.startswith(":") and not value:
            value = None
        if value is None and op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        if value is None:
            return arg if op and op.endswith("-") else ""
        return value

    return _VAR.sub(one, text)


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines, as Compose's ``.env`` and systemd's ``EnvironmentFile`` read them."""
    env = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def load_compose(env: dict[str, str]) -> dict[str, Any]:
    """The compose file with every string interpolated from ``env``."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(x) for x in node]
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        return node

    return dict(walk(yaml.safe_load(COMPOSE_FILE.read_text())))


def read_unit(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser["Service"]


def exec_start(path: Path, env: dict[str, str], hostname: str) -> list[str]:
    """The unit's ``ExecStart``, expanded as systemd does (``%H``, ``${VAR}``) and pointed at
    this checkout instead of ``/opt/modelfleet``."""
    line = read_unit(path)["ExecStart"].replace("%H", hostname).replace("%%", "%")
    argv = [interpolate(arg, env) for arg in shlex.split(line)]
    return [arg.replace(INSTALL_DIR, str(REPO)) for arg in argv]


def local_command(argv: list[str]) -> list[str]:
    """A container's command run from this checkout's venv (``celery`` -> ``.venv/bin/celery``)."""
    return [str(REPO / ".venv" / "bin" / argv[0]), *argv[1:]]
