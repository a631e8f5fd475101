"""A tiny run's report.html in a real browser: headless Chromium through selenium and chromedriver.

It checks that the page loads offline with no console error, that every video decodes and
plays, that the outcome filters change what is shown, and takes a screenshot. Without a
browser it is skipped, except where ``CI=true``: there a missing browser fails it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = "/usr/bin/chromedriver"


def _unavailable() -> str | None:
    """Why the browser cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -r requirements.txt)"
    if not any(shutil.which(name) for name in CHROMIUM):
        return "no Chromium (apt-get install chromium chromium-driver)"
    if not (shutil.which("chromedriver") or os.path.exists(CHROMEDRIVER)):
        return "no chromedriver (apt-get install chromium-driver)"
    return None


@pytest.fixture(scope="module")
def browser():
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI needs the report's browser test: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in CHROMIUM if shutil.which(n))
    # --no-sandbox: CI runs as root; the autoplay policy lets muted videos play without a click.
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,1600"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A tiny training run (enough demonstrations that its agent sometimes stops), report on."""
    from vln.config import preset
    from vln.train import run

    out = tmp_path_factory.mktemp("report") / "run"
    run(preset("tiny", out=str(out), il_episodes=256, il_epochs=4.0, dagger_rounds=0, rl_updates=0,
               eval_episodes=6, monitor_episodes=4, report=True), progress=False)
    return out / "report.html"


def test_the_report_plays_and_filters_in_chromium(browser, report, tmp_path):
    driver = browser
    driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
    t0 = time.perf_counter()
    driver.get(report.resolve().as_uri())
    assert driver.execute_script("return document.readyState") == "complete"
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors

    # Every video decodes (readyState >= 2: HAVE_CURRENT_DATA) and plays (currentTime advances).
    count = driver.execute_script("return document.querySelectorAll('video').length")
    assert count >= 2
    deadline = time.time() + 30
    while time.time() < deadline:
        states = driver.execute_script("return Array.from(document.querySelectorAll('video'), v => v.readyState)")
        if min(states) >= 2:
            break
        time.sleep(0.2)
    assert min(states) >= 2, states
    errors = driver.execute_script("return Array.from(document.querySelectorAll('video'), v => v.error && v.error.code)")
    assert not any(errors), errors
    driver.execute_script("document.querySelectorAll('video').forEach(v => { v.currentTime = 0; v.play(); })")
    time.sleep(1.0)
    times = driver.execute_script("return Array.from(document.querySelectorAll('video'), v => v.currentTime)")
    assert min(times) > 0.1, times
    driver.execute_script("document.querySelectorAll('video').forEach(v => v.pause())")

    # Each filter shows its cards and only them; "all" shows every card again.
    outcomes = driver.execute_script("return Array.from(document.querySelectorAll('.card'), c => c.dataset.outcome)")
    assert len(set(outcomes)) >= 2, outcomes  # else the filters could not change anything

    def visible() -> list[str]:
        return driver.execute_script(
            "return Array.from(document.querySelectorAll('.card')).filter(c => c.offsetParent !== null)"
            ".map(c => c.dataset.outcome)")

    assert visible() == outcomes
    for outcome in sorted(set(outcomes)):
        driver.find_element("css selector", f'button[data-filter="{outcome}"]').click()
        assert visible() == [o for o in outcomes if o == outcome], outcome
    driver.find_element("css selector", 'button[data-filter="failure"]').click()
    assert visible() == [o for o in outcomes if o != "success"]
    driver.find_element("css selector", 'button[data-filter="all"]').click()
    assert visible() == outcomes
    assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]

    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    print(f"report checked in Chromium in {time.perf_counter() - t0:.1f} s: {count} videos, outcomes {sorted(set(outcomes))}")
