"""The worker lifecycle is wired in one place: imports connect nothing, steps cancel timers."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from kombu.asynchronous.timer import Timer

from tests.conftest import REPO
from worker_config.celery_ext.steps import Repeating

#: What a Python process reports: receivers per Celery signal, and our remote-control commands.
_REPORT = """
import json
from celery import signals
from celery.utils.dispatch import Signal
from celery.worker.control import Panel
receivers = {
    name: len(value.receivers) for name, value in vars(signals).items() if isinstance(value, Signal)
}
commands = sorted(name for name in Panel.data if name.startswith("modelfleet"))
print(json.dumps({"receivers": receivers, "commands": commands}))
"""


def _python(code: str) -> str:
    """The output of ``code`` in a fresh interpreter: signals are process-wide state."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _report(*imports: str) -> dict[str, Any]:
    code = "".join(f"import {module}\n" for module in imports) + _REPORT
    report: dict[str, Any] = json.loads(_python(code))
    return report


def test_the_probe_command_and_worker_modules_connect_nothing_when_imported() -> None:
    report = _report(
        "producer.cli.probe",
        "worker_config.records.health",
        "worker_config.observe.probes",
        "worker_config.observe.metrics",
        "worker_config.observe.task_log",
        "worker_config.runtime.reload",
        "worker_config.celery_ext.control",
        "worker_config.celery_ext.lease",
    )
    assert report["commands"] == []
    assert {name: n for name, n in report["receivers"].items() if n} == {}


def test_the_celery_app_connects_every_handler_once_in_the_written_order() -> None:
    code = (
        "import tasks\n"
        "from worker_config import lifecycle\n"
        "lifecycle.connect(tasks.app)  # a second call changes nothing\n"
        "print([[f'{r.__module__}.{r.__qualname__}' for _, r in signal.receivers]"
        " for signal, _ in lifecycle.HANDLERS])\n"
        "print([[f'{h.__module__}.{h.__qualname__}' for h in handlers]"
        " for _, handlers in lifecycle.HANDLERS])\n"
    )
    connected, written = _python(code).splitlines()
    assert connected == written
    report = _report("tasks")
    assert report["commands"] == ["modelfleet_info", "modelfleet_reload"]


class _Counting(Repeating):
    def __init__(self, parent: Any) -> None:
        super().__init__(parent)
        self.ticks = 0

    def interval(self, worker: Any) -> float:
        return 0.01

    def tick(self, worker: Any) -> None:
        self.ticks += 1


def _run_timer(timer: Timer, seconds: float) -> None:
    """What the worker's event loop does with its timer, for ``seconds``."""
    deadline = time.monotonic() + seconds
    for delay, entry in timer:
        if time.monotonic() > deadline:
            return
        if entry is not None:
            timer.apply_entry(entry)
        else:
            time.sleep(min(delay or 0.001, 0.005))


def test_a_stopped_step_cancels_its_timer() -> None:
    class Worker:
        timer = Timer()

    worker = Worker()
    step = _Counting(worker)
    step.start(worker)
    _run_timer(worker.timer, 0.2)
    assert step.ticks >= 3
    tref = step.tref

    step.stop(worker)
    ticks = step.ticks
    _run_timer(worker.timer, 0.2)
    assert step.ticks == ticks and tref.canceled and step.tref is None
    step.stop(worker)  # a second stop (cold shutdown after warm) is harmless
