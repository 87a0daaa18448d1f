"""The code page (亮码) in headless Chromium, with codes that live five minutes: a colour change
reaches the open page through its status check within seconds (no refresh is due to explain it),
the QR is drawn in the code's colour and still decodes with a real decoder (zbar), and a yellow or
red code says what to do now (hotline, office, the authority's note, the day it ends).
"""
from __future__ import annotations

import datetime as dt
import io
import shutil
import subprocess
import time

import pytest

import tests.e2e.conftest as e2e
from adapters.signing.qr_image import COLORS as QR_COLORS
from app import create_app
from tests.e2e.conftest import LiveServer, browser_missing
from tests.e2e.test_browser import api, apply_and_open_code, card_log, js_errors, save_screenshot, wait

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

if browser_missing() is None:
    from selenium.webdriver.common.by import By

LONG_TTL = 300  # seconds: no code refresh happens during a test, only the status check can
HOTLINE, OFFICE = "0571-12320", "西湖区疾病预防控制中心（文三路 1 号）"


@pytest.fixture(autouse=True)
def long_lived_codes(monkeypatch):
    """The conftest's live server, built with five-minute codes and this module's help contacts."""
    settings = {"HEALTHCODE_CODE_TTL": LONG_TTL, "HEALTHCODE_HOTLINE": HOTLINE, "HEALTHCODE_OFFICE": OFFICE}
    monkeypatch.setattr(e2e, "create_app", lambda config: create_app({**config, **settings}))


def mark(server: LiveServer, person_id: str, kind: str, **extra) -> dict:
    """An authority marks the person (and a second one approves it if the marker waits for that)."""
    credentials = server.app.extensions["healthcode"].credentials
    token, _ = credentials.create("authority", "疾控")
    status, marker = api(server, "POST", "/api/v1/authority/markers", token=token, body={
        "person_id": person_id, "kind": kind, "reason": "e2e: 流调判定", **extra})
    assert status == 201, marker
    if marker.get("status") == "pending":
        second, _ = credentials.create("authority", "复核")
        status, marker = api(server, "POST", f"/api/v1/authority/markers/{marker['id']}/approve", token=second,
                             body={})
        assert status in (200, 201), marker
    return marker


def unmark(server: LiveServer, marker_id: str) -> None:
    token, _ = server.app.extensions["healthcode"].credentials.create("authority", "疾控")
    status, body = api(server, "DELETE", f"/api/v1/authority/markers/{marker_id}", token=token,
                       body={"reason": "e2e: 判定有误"})
    assert status in (200, 204), body


def shown_color(browser) -> str:
    return browser.find_element(By.ID, "code-card").get_attribute("data-color")


def wait_for_color(browser, color: str, timeout: float) -> float:
    """Wait until the page shows a code of this colour; how long it took."""
    started = time.monotonic()
    wait(browser, timeout).until(lambda d: shown_color(d) == color)
    return time.monotonic() - started


def decode_qr_on_screen(browser, tmp_path) -> tuple[str, str, bytes]:
    """(the text zbar reads off the page's QR image, the page's data-qr, the PNG it read)."""
    card = browser.find_element(By.ID, "code-card")
    image = browser.find_element(By.ID, "qr")
    png = image.screenshot_as_png
    shot = tmp_path / f"qr-{shown_color(browser)}.png"
    shot.write_bytes(png)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(shot)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"zbar read no QR code in {shot}: {out.stderr}"
    return out.stdout.strip(), card.get_attribute("data-qr"), png


def ink(png: bytes) -> tuple[int, int, int]:
    """The commonest colour of the QR's dark modules (everything not near-white)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    dark = [(count, rgb) for count, rgb in image.getcolors(image.width * image.height) if min(rgb) < 200]
    assert dark, "the QR image has no dark modules"
    return max(dark)[1]


def hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def assert_drawn_in(png: bytes, color: str) -> None:
    got, want = ink(png), hex_rgb(QR_COLORS[color])
    assert all(abs(g - w) <= 12 for g, w in zip(got, want, strict=True)), f"QR drawn in {got}, not {color} {want}"


def test_a_colour_change_reaches_the_open_code_page_within_seconds(browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-poll")
    green = card_log(browser)[0]
    assert green["color"] == "green"
    assert green["expiresAt"] / 1000 - time.time() > LONG_TTL - 30  # no refresh due for minutes

    marker = mark(live_server, person_id, "close_contact")
    took = wait_for_color(browser, "red", timeout=6)
    assert took <= 5, f"the page turned red {took:.1f} s after the marker"
    assert browser.execute_script("return window.__hcLoaded === true"), "the page reloaded"
    log = card_log(browser)
    red = next(e for e in log if e["color"] == "red")
    assert red["qr"] != green["qr"] and red["img"] != green["img"], "red shown without a new code"
    assert "red" in red["classes"].split()
    assert browser.find_element(By.ID, "color-label").text == "红码"
    assert browser.find_element(By.ID, "todo").is_displayed()

    # And back: the marker lifted, the page is green again within seconds, with nothing to do.
    unmark(live_server, marker["id"])
    took = wait_for_color(browser, "green", timeout=6)
    assert took <= 5, f"the page turned green {took:.1f} s after the marker was lifted"
    assert not browser.find_element(By.ID, "todo").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#reasons li") == []
    assert js_errors(browser) == []


def test_the_status_check_pauses_while_the_page_is_hidden(browser, live_server):
    apply_and_open_code(browser, live_server, "e2e-hidden")
    count = ("return performance.getEntriesByType('resource')"
             ".filter((e) => e.name.endsWith('/health-code/status')).length")
    wait(browser, 8).until(lambda d: d.execute_script(count) >= 1)  # it asks every few seconds
    # A hidden page (the mini-program in the background): simulate it the way the page sees it.
    browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'));")
    before = browser.execute_script(count)
    time.sleep(7)
    assert browser.execute_script(count) == before, "the page kept asking while hidden"
    browser.execute_script(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'));")
    wait(browser, 3).until(lambda d: d.execute_script(count) > before)  # at once when shown again


# The status check answers 429 with Retry-After (as the API does when a limit is hit): a stand-in
# for fetch, so the page's own handling is what is tested, not the limiter's settings.
RATE_LIMIT_STATUS = """
const real = window.fetch;
window.__statusCalls = 0;
window.fetch = (url, options) => {
  if (!String(url).endsWith("/health-code/status")) return real(url, options);
  window.__statusCalls += 1;
  return Promise.resolve(new Response(
    JSON.stringify({error: {code: "rate_limited", message: "请求过于频繁，请稍后再试"}}),
    {status: 429, headers: {"Content-Type": "application/json", "Retry-After": "20"}}));
};
"""


def test_the_status_check_waits_as_long_as_a_429_says(browser, live_server):
    apply_and_open_code(browser, live_server, "e2e-429")
    browser.execute_script(RATE_LIMIT_STATUS)
    wait(browser, 8).until(lambda d: d.execute_script("return window.__statusCalls") == 1)
    time.sleep(8)  # more than two of its usual intervals
    assert browser.execute_script("return window.__statusCalls") == 1, "asked again before Retry-After"
    assert not browser.find_element(By.ID, "code-card").get_attribute("hidden")  # the code stays on screen
    assert shown_color(browser) == "green"


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="needs zbarimg (Debian: zbar-tools)")
def test_the_qr_is_drawn_in_the_codes_colour_and_zbar_reads_the_code_off_the_screen(browser, live_server,
                                                                                     tmp_path):
    person_id = apply_and_open_code(browser, live_server, "e2e-zbar")
    read, shown, png = decode_qr_on_screen(browser, tmp_path)
    assert read == shown and shown.startswith("CNHC1:")
    assert_drawn_in(png, "green")
    save_screenshot(browser, "hc-code-green.png")

    mark(live_server, person_id, "secondary_contact")
    wait_for_color(browser, "yellow", timeout=6)
    read, shown, png = decode_qr_on_screen(browser, tmp_path)
    assert read == shown
    assert_drawn_in(png, "yellow")

    mark(live_server, person_id, "close_contact")
    wait_for_color(browser, "red", timeout=6)
    read, shown, png = decode_qr_on_screen(browser, tmp_path)
    assert read == shown
    assert_drawn_in(png, "red")
    status, scan = api(live_server, "POST", "/api/v1/scans", body={"qr": read},
                       token=live_server.app.extensions["healthcode"].credentials.create("checkpoint", "东门")[0])
    assert status == 200 and scan["valid"] and scan["color"] == "red", scan  # what zbar read is the live code


def test_a_yellow_code_says_what_to_do_now_with_the_hotline_the_note_and_the_day_it_ends(browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-todo")
    assert not browser.find_element(By.ID, "todo").is_displayed()  # green: nothing to do
    note = "请于3日内到社区卫生服务中心登记，居家期间每日测温两次"
    mark(live_server, person_id, "secondary_contact", public_note=note)
    wait_for_color(browser, "yellow", timeout=6)

    token = browser.execute_script("return sessionStorage.getItem('hc.token')")
    _, code = api(live_server, "GET", f"/api/v1/persons/{person_id}/health-code", token=token)
    [reason] = code["reasons"]
    last = dt.date.fromisoformat(reason["until_day"])

    todo = browser.find_element(By.ID, "todo")
    assert todo.is_displayed() and "现在该怎么做" in todo.text
    [item] = browser.find_elements(By.CSS_SELECTOR, "#reasons li")
    assert "次密切接触者" in item.text
    assert f"预计 {last.year}年{last.month}月{last.day}日 解除" in item.text  # to the day, no hour
    assert "如何转绿：" + reason["how_to_clear"] in item.text
    assert note in item.text
    hotline = browser.find_element(By.ID, "help-hotline")
    assert hotline.text == HOTLINE and hotline.get_attribute("href") == "tel:057112320"
    assert OFFICE in browser.find_element(By.ID, "help-office").text
    assert browser.find_element(By.ID, "color-label").text == "黄码"
    browser.execute_script("document.getElementById('todo').scrollIntoView()")
    browser.save_screenshot(str(e2e.artifacts_dir() / "hc-code-yellow-todo.png"))
    save_screenshot(browser, "hc-code-yellow.png")
    assert js_errors(browser) == []
