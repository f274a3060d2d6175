"""An operator's browser: headless Chromium logs into Flower and sees the worker and a task."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from producer import FleetExecutor
from producer.local.worker import LocalWorker
from tests.conftest import wait_until
from tests.ecosystem.conftest import FlowerProcess
from worker_config.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,900",
)


def install_chromium() -> str | None:
    """Install Debian's chromium and chromium-driver where missing; the reason if we cannot."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium/chromium-driver missing and cannot apt-get them (not root or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        [
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    reason = install_chromium()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def browser(chromium_ready: None, tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(120)  # the machine is shared and may be very busy
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver: Any, text: str, timeout: float = 120) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.5).until(lambda d: text in d.page_source)


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run may apt-get chromium
def test_operator_logs_into_flower_and_sees_the_worker_and_a_finished_task(
    browser: Any,
    worker: LocalWorker,
    flower: FlowerProcess,
    fleet_settings: Settings,
    tmp_path: Path,
) -> None:
    # Flower answers /healthcheck before it listens to events; a task received before then has
    # no name in its list (the pipelined send publishes no task-sent event, as send_task by
    # default). The worker's heartbeat events reaching Flower's API mean it listens now.
    wait_until(lambda: worker.hostname in _flower_get(flower, "/api/workers"), 60, "events")
    with FleetExecutor(fleet_settings) as executor:
        job = executor.submit_batches([7, 8, 9, "oops"], batch_size=4)
        assert len(list(job.results(timeout=60))) == 4
    task_id = job.task_ids[0]

    # Without credentials Flower answers 401 and shows nothing.
    browser.get(flower.url + "/workers")
    assert worker.hostname not in browser.page_source

    # Basic auth, as the browser sends it once the user typed the password.
    token = base64.b64encode(f"{flower.user}:{flower.password}".encode()).decode()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}}
    )
    browser.get(flower.url + "/workers")
    wait_for_text(browser, worker.hostname)
    browser.save_screenshot(str(tmp_path / "flower-workers.png"))

    browser.get(flower.url + "/tasks")
    wait_for_text(browser, task_id)
    wait_for_text(browser, "modelfleet.predict_batch")
    assert "SUCCESS" in browser.page_source
    shot = tmp_path / "flower-tasks.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    target = os.environ.get("MODELFLEET_SCREENSHOT_DIR")
    if target:  # `make screenshot` refreshes the picture in docs/
        shutil.copy(shot, Path(target) / "flower-tasks.png")
        shutil.copy(tmp_path / "flower-workers.png", Path(target) / "flower-workers.png")


def _flower_get(flower: FlowerProcess, path: str) -> str:
    request = urllib.request.Request(flower.url + path, headers=flower.auth_header)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())
    except OSError:
        return ""
