"""End-to-end fixtures: the real app served over HTTP, and headless Chromium to drive its pages.

``live_server`` runs ``create_app`` on 127.0.0.1 (a free port) with werkzeug in a background
thread, against the Redis test database (flushed before and after). ``browser`` is headless
Chromium from the machine's packages, sized like a phone (``desktop_browser``: like an office's
screen, for the console); when a test using it fails, a
screenshot and the page source are saved under ``HEALTHCODE_E2E_ARTIFACTS`` (default: the
system temp folder).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from tests.conftest import SERVER_URL, store_client

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PHONE = (390, 844)  # CSS pixels of a common phone screen
PHONE_PIXEL_RATIO = 2  # screenshots of 780x1688: sharp enough to judge, small enough to look at
DESKTOP = (1440, 900)  # an office's screen, for the console
CODE_TTL = 6  # seconds: short, so a test sees the page refresh its code


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    return f"headless browser tests need {' and '.join(missing)} (Debian: apt-get install chromium chromium-driver)" \
        if missing else None


def artifacts_dir() -> Path:
    path = Path(os.environ.get("HEALTHCODE_E2E_ARTIFACTS") or tempfile.gettempdir())
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class LiveServer:
    app: Flask
    url: str  # http://127.0.0.1:PORT, no trailing slash


@pytest.fixture
def live_server() -> Iterator[LiveServer]:
    """The real app over HTTP on a free port, on a flushed Redis test database."""
    client = store_client()
    client.flushdb()
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_CODE_TTL": CODE_TTL, "TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # server_close() then waits for requests still running (a page's refresh, say): none of them
    # may write to the test database after it is flushed for the next test.
    server.daemon_threads = False
    server.block_on_close = True
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["healthcode.runtime"].store.close()
        client.flushdb()
        client.close()


_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """Note a failed test body, so the ``browser`` fixture can save what the page looked like."""
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


@pytest.fixture
def browser(request):
    """Headless Chromium (the machine's /usr/bin/chromium), the size of a phone screen."""
    yield from _chromium(request, mobile=True)


@pytest.fixture
def desktop_browser(request):
    """Headless Chromium the size of an office's desktop screen (the authority console)."""
    yield from _chromium(request, mobile=False)


def _chromium(request, mobile: bool):
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    size = PHONE if mobile else DESKTOP
    profile = tempfile.mkdtemp(prefix="hc-chromium-")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
        "--lang=zh-CN",
    ):
        options.add_argument(arg)
    if mobile:
        # A phone's viewport (no desktop scrollbars or window frame eating into it), touch, mobile layout.
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": PHONE[0], "height": PHONE[1], "pixelRatio": PHONE_PIXEL_RATIO, "touch": True, "mobile": True}})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        driver.set_window_size(*size)
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(30)
        yield driver
        if request.node.stash.get(_FAILED, False):
            out = artifacts_dir()
            name = request.node.name + ("" if mobile else "-desktop")
            driver.save_screenshot(str(out / f"hc-e2e-{name}.png"))
            (out / f"hc-e2e-{name}.html").write_text(driver.page_source, encoding="utf-8")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
