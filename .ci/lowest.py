"""Inputs of `make test-lowest`: each direct dependency pinned to the lowest version we admit.

pip has no "lowest" resolution, so this reads pyproject.toml and writes, into the directory it
is given, ``constraints.txt`` (``name==lower bound`` for every runtime dependency; the versions
of their own dependencies are left to pip) and ``test-tools.txt`` (the dev extra's test runner
and test libraries, at their usual ranges). Every dependency must have a lower bound that is a
real release, or this stops and says which one has none.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

#: What the fast tests need from the dev extra (hypothesis and trustme: imported at collection).
TEST_TOOLS = ("pytest", "pytest-timeout", "hypothesis", "trustme")


def lower_bound(requirement: Requirement) -> str:
    for spec in requirement.specifier:
        if spec.operator in (">=", "==", "~="):
            return spec.version
    sys.exit(f"{requirement}: no lower bound (>=); give it the oldest release we support")


def main(out: Path) -> None:
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    pins = [
        f"{r.name}=={lower_bound(r)}" for r in runtime if r.marker is None or r.marker.evaluate()
    ]
    dev = [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    tools = [str(r) for r in dev if r.name in TEST_TOOLS]
    out.mkdir(parents=True, exist_ok=True)
    (out / "constraints.txt").write_text("\n".join(pins) + "\n")
    (out / "test-tools.txt").write_text("\n".join(tools) + "\n")
    print("lowest allowed versions:", " ".join(pins))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
