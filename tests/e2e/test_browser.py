"""The H5 pages in headless Chromium against the real app: apply (申领), show the code (亮码).

The app runs with a 6-second code lifetime (HEALTHCODE_CODE_TTL), so a test can watch the code page
fetch a new code before the old one expires, and a colour change arrive without a reload.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import CODE_TTL, LiveServer, artifacts_dir, browser_missing
from tests.ids import id_number

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

if browser_missing() is None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

CN_TZ = dt.timezone(dt.timedelta(hours=8))
APPLICANT = {"name": "张三", "id_number": "11010519491231002X", "phone": "13800138000"}
CODE_URL = re.compile(r"/m/code/([0-9a-f]{24})$")

# Records every change of the code card (browser wall time, QR text, colour, staleness, image) in
# window.__hcLog, from a MutationObserver: it sees each state the page shows, not a polled sample.
WATCH_CARD = """
const card = document.getElementById("code-card");
const img = document.getElementById("qr");
const hash = (s) => { let h = 5381; for (let i = 0; i < s.length; i++) h = (h * 33 + s.charCodeAt(i)) | 0; return h; };
const log = window.__hcLog = [];
const record = () => log.push({
  t: Date.now(),
  qr: card.dataset.qr || "",
  issuedAt: card.dataset.issuedAt || "",
  expiresAt: card.dataset.expiresAt ? Date.parse(card.dataset.expiresAt) : 0,
  color: card.dataset.color || "",
  classes: card.className,
  hidden: card.hidden,
  stale: card.classList.contains("stale"),
  validity: document.getElementById("validity").textContent,
  img: hash(img.getAttribute("src") || ""),
  imgWidth: img.naturalWidth,
});
new MutationObserver(record).observe(card, {attributes: true, childList: true, subtree: true, characterData: true});
window.__hcLoaded = true;  // gone if the page reloads
record();
"""


def wait(driver, timeout: float = 10):
    return WebDriverWait(driver, timeout, poll_frequency=0.05)


def card_log(driver) -> list[dict]:
    return driver.execute_script("return window.__hcLog || []")


def qr_changes(log: list[dict]) -> list[tuple[dict, dict]]:
    """(before, after) for each entry where a different QR text appeared."""
    return [(a, b) for a, b in zip(log, log[1:], strict=False) if b["qr"] != a["qr"]]


def assert_never_stale(log: list[dict]) -> None:
    for entry in log:
        if entry["hidden"] or not entry["qr"]:
            continue
        assert not entry["stale"], f"code shown as stale: {entry}"
        assert "过期" not in entry["validity"], f"code shown as expired: {entry}"
        assert entry["t"] < entry["expiresAt"], f"an expired code was on screen: {entry}"


def js_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def save_screenshot(driver, name: str) -> Path:
    driver.execute_script("window.scrollTo(0, 0)")
    path = artifacts_dir() / name
    driver.save_screenshot(str(path))
    return path


def api(server: LiveServer, method: str, path: str, body: dict | None = None, token: str | None = None):
    request = urllib.request.Request(
        server.url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read() or b"null")


def dev_login(driver, server: LiveServer, account: str) -> None:
    """Open /m/apply without a token and log in with the dev form."""
    driver.get(server.url + "/m/apply")
    assert not driver.find_element(By.ID, "apply").is_displayed()
    field = wait(driver).until(EC.visibility_of_element_located((By.ID, "dev-code")))
    field.clear()
    field.send_keys(account)
    driver.find_element(By.CSS_SELECTOR, "#dev-login button[type=submit]").click()
    wait(driver).until(EC.visibility_of_element_located((By.ID, "apply")))
    assert driver.find_elements(By.ID, "dev-login") == []
    assert driver.execute_script("return sessionStorage.getItem('hc.token')")


def submit_application(driver, name: str, id_number: str, phone: str, relation: str = "self",
                       consent: bool = True) -> None:
    form = driver.find_element(By.ID, "apply")
    for field, value in (("name", name), ("id_number", id_number), ("phone", phone)):
        element = form.find_element(By.NAME, field)
        element.clear()
        element.send_keys(value)
    form.find_element(By.CSS_SELECTOR, f"input[name=relation][value={relation}]").click()
    box = form.find_element(By.ID, "consent")
    if box.is_selected() != consent:
        box.click()
    driver.find_element(By.ID, "apply-submit").click()


def apply_and_open_code(driver, server: LiveServer, account: str) -> str:
    """Log in, apply for 张三 (本人), land on the code page; the person id."""
    dev_login(driver, server, account)
    submit_application(driver, **APPLICANT)
    wait(driver).until(EC.url_matches(CODE_URL.pattern))
    person_id = CODE_URL.search(driver.current_url).group(1)
    # No code before the face check: the page asks for it (the dev platform's check passes).
    wait(driver).until(EC.visibility_of_element_located((By.ID, "verify")))
    assert driver.find_element(By.ID, "code-card").get_attribute("hidden")
    assert driver.find_element(By.ID, "verify-name").text == "「张*」"
    driver.find_element(By.ID, "verify-start").click()
    wait(driver).until(lambda d: d.execute_script(
        "const c = document.getElementById('code-card'); return !c.hidden && c.dataset.qr"))
    driver.execute_script(WATCH_CARD)
    return person_id


def wait_for_new_code(driver, after_qr: str, timeout: float) -> tuple[dict, dict]:
    """Wait until the page shows a QR other than after_qr; the log entries before and after it."""
    wait(driver, timeout).until(lambda d: any(b["qr"] != after_qr for b in card_log(d) if b["qr"]))
    log = card_log(driver)
    first = next(i for i, e in enumerate(log) if e["qr"] and e["qr"] != after_qr)
    return log[first - 1], log[first]


def test_apply_then_code_page_shows_a_live_refreshing_green_code(browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-apply")

    card = browser.find_element(By.ID, "code-card")
    assert "green" in card.get_attribute("class").split()
    assert browser.find_element(By.ID, "color-label").text == "绿码"
    assert "绿码" in browser.find_element(By.ID, "meaning").text
    assert browser.find_element(By.ID, "person-name").text == "张*"
    assert browser.find_element(By.ID, "person-id").text == "1101**********002X"
    assert browser.find_elements(By.CSS_SELECTOR, "#reasons li") == []
    assert card.get_attribute("data-qr").startswith("CNHC1:")
    assert browser.execute_script(
        "const i = document.getElementById('qr'); return i.complete && i.naturalWidth > 0"
        " && i.getBoundingClientRect().width >= 200")

    # The clock ticks, and shows the time in China (UTC+8).
    clock = browser.find_element(By.ID, "clock")
    first_tick = clock.text
    wait(browser, 3).until(lambda d: clock.text != first_tick)
    shown = dt.datetime.strptime(clock.text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=CN_TZ)
    assert abs((shown - dt.datetime.now(CN_TZ)).total_seconds()) < 3, clock.text

    save_screenshot(browser, "hc-code.png")

    # A new code arrives while the old one is still valid, and the page never shows a stale one.
    old = card_log(browser)[0]
    before, after = wait_for_new_code(browser, old["qr"], timeout=CODE_TTL + 1)
    assert after["t"] < old["expiresAt"], (
        f"new code arrived {after['t'] - old['expiresAt']} ms after the old one expired")
    assert after["qr"].startswith("CNHC1:")
    assert dt.datetime.fromisoformat(after["issuedAt"]) > dt.datetime.fromisoformat(old["issuedAt"])
    assert after["expiresAt"] > old["expiresAt"]
    assert after["img"] != before["img"], "the QR image did not change with the QR text"
    assert after["color"] == "green"
    assert browser.execute_script("return document.getElementById('qr').naturalWidth") > 0
    # Watch on until after the first code's expiry: the page never showed an expired code.
    time.sleep(max(0.0, (old["expiresAt"] + 300) / 1000 - time.time()))
    assert_never_stale(card_log(browser))
    assert browser.current_url.endswith(f"/m/code/{person_id}")
    assert js_errors(browser) == []


def test_wrong_id_check_digit_shows_the_error_under_the_id_field(browser, live_server):
    dev_login(browser, live_server, "e2e-validation")
    submit_application(browser, name="张三", id_number="110105194912310021", phone="13800138000")

    error = browser.find_element(By.CSS_SELECTOR, '#apply .err[data-for="id_number"]')
    wait(browser).until(lambda d: error.text.strip())
    assert error.text == "身份证号码有误，请核对", error.text
    # It is the line right under the ID field, and the only field with an error.
    assert browser.execute_script(
        "const input = document.querySelector('#apply input[name=id_number]');"
        "return input.closest('label').nextElementSibling === arguments[0];", error)
    assert error.is_displayed()
    others = browser.find_elements(By.CSS_SELECTOR, '#apply .err:not([data-for="id_number"])')
    assert [e.text for e in others if e.text.strip()] == []
    assert browser.find_element(By.ID, "toast").is_displayed()
    assert browser.find_element(By.ID, "apply-submit").is_enabled()
    assert browser.current_url == live_server.url + "/m/apply"
    assert browser.find_element(By.NAME, "id_number").get_attribute("value") == "110105194912310021"
    time.sleep(0.3)  # nothing navigates away late
    assert browser.current_url == live_server.url + "/m/apply"


def test_applying_needs_the_notice_read_and_agreed_to(browser, live_server):
    dev_login(browser, live_server, "e2e-consent")
    items = browser.find_elements(By.CSS_SELECTOR, "#notice-items li")
    assert len(items) >= 5 and "如实" in items[0].text  # truthful information comes first
    submit_application(browser, **APPLICANT, consent=False)
    error = browser.find_element(By.CSS_SELECTOR, '#apply .err[data-for="consent_notice"]')
    wait(browser).until(lambda d: error.text.strip())
    assert "申领须知" in error.text and browser.current_url == live_server.url + "/m/apply"
    submit_application(browser, **APPLICANT)
    wait(browser).until(EC.url_matches(CODE_URL.pattern))


def test_a_face_check_ticket_from_the_mini_program_is_used_once_and_a_failed_one_can_be_retried(
        browser, live_server):
    dev_login(browser, live_server, "e2e-ticket")
    submit_application(browser, **APPLICANT)
    wait(browser).until(EC.visibility_of_element_located((By.ID, "verify")))
    code_url = browser.current_url

    browser.get(code_url + "?face_ticket=fail")  # the dev platform refuses this ticket
    wait(browser).until(lambda d: "人脸识别未通过" in d.find_element(By.ID, "toast").text)
    assert browser.find_element(By.ID, "verify").is_displayed()
    assert browser.current_url == code_url  # the ticket is not left in the address bar
    assert browser.find_element(By.ID, "verify-name").text == "「张*」"

    browser.get(code_url + "?face_ticket=wx-verify-result-1")
    wait(browser).until(lambda d: d.execute_script(
        "const c = document.getElementById('code-card'); return !c.hidden && c.dataset.qr"))
    assert not browser.find_element(By.ID, "verify").is_displayed()
    assert browser.current_url == code_url


def test_an_expired_token_leads_back_to_the_login_on_every_page(browser, live_server):
    browser.get(live_server.url + "/m/")
    for page in ("/m/", "/m/history/" + "a" * 24):
        browser.execute_script("sessionStorage.setItem('hc.token', 'acct.expired-or-revoked')")
        browser.get(live_server.url + page)

        def back_at_the_login(d) -> bool:
            # The page drops the token and reloads itself: a look during that reload is aborted by the
            # navigation, so the wait looks again until the reloaded page shows the login.
            return d.execute_script("return document.readyState === 'complete'"
                                    " && sessionStorage.getItem('hc.token') === null") \
                and d.find_element(By.ID, "dev-code").is_displayed()

        WebDriverWait(browser, 10, poll_frequency=0.05, ignored_exceptions=(WebDriverException,)) \
            .until(back_at_the_login)


def test_page_turns_red_at_next_refresh_when_the_authority_marks_the_person(browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-marker")
    assert "green" in browser.find_element(By.ID, "code-card").get_attribute("class").split()
    green_qr = card_log(browser)[0]["qr"]

    credentials = live_server.app.extensions["healthcode"].credentials
    token, _ = credentials.create("authority", "test")
    status, marker = api(live_server, "POST", "/api/v1/authority/markers", token=token, body={
        "person_id": person_id, "kind": "close_contact", "reason": "e2e: 与确诊病例同乘航班"})
    assert status == 201, marker
    if marker.get("status") == "pending":  # a manual red marker waits for a second authority (API.md)
        second, _ = credentials.create("authority", "second")
        status, marker = api(live_server, "POST", f"/api/v1/authority/markers/{marker['id']}/approve",
                             token=second, body={})
        assert status in (200, 201), marker
    marked_at = time.time()

    # One refresh is at most TTL seconds away; the page turns red without a reload.
    card = browser.find_element(By.ID, "code-card")
    wait(browser, CODE_TTL + 2).until(lambda d: "red" in card.get_attribute("class").split())
    assert time.time() - marked_at <= CODE_TTL + 1
    assert browser.execute_script("return window.__hcLoaded === true"), "the page reloaded"

    reasons = browser.find_elements(By.CSS_SELECTOR, "#reasons li")
    assert len(reasons) == 1 and reasons[0].is_displayed()
    policy_file = live_server.app.extensions["healthcode.runtime"].settings.policy_file
    policy = json.loads(Path(policy_file).read_text(encoding="utf-8"))
    how_to_clear = policy["markers"]["close_contact"]["how_to_clear"]["zh"]
    assert "密切接触者" in reasons[0].text
    assert how_to_clear in reasons[0].text
    assert browser.find_element(By.ID, "color-label").text == "红码"
    assert "红码" in browser.find_element(By.ID, "meaning").text

    log = card_log(browser)
    red = next(e for e in log if e["color"] == "red")
    assert red["qr"] != green_qr
    assert browser.execute_script("return document.getElementById('qr').naturalWidth") > 0
    # Green codes before, red after: no flapping back once the marker is in.
    assert all(e["color"] == "red" for e in log[log.index(red):])
    assert_never_stale(log)
    save_screenshot(browser, "hc-code-red.png")
    assert js_errors(browser) == []


def test_history_page_lists_colour_changes_and_scans(browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-history")
    qr = card_log(browser)[0]["qr"]
    token, _ = live_server.app.extensions["healthcode"].credentials.create("checkpoint", "东门岗")
    status, scan = api(live_server, "POST", "/api/v1/scans", token=token, body={"qr": qr, "place_id": "gate-east"})
    assert status == 200 and scan["valid"], scan

    browser.find_element(By.ID, "history-link").click()
    wait(browser).until(EC.visibility_of_element_located((By.ID, "history")))
    assert browser.current_url.endswith(f"/m/history/{person_id}")
    changes = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#changes li")]
    scans = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#scans li")]
    assert len(changes) == 1 and "绿码" in changes[0], changes
    assert len(scans) == 1 and "gate-east" in scans[0] and "绿码" in scans[0], scans
    assert "30 天" in browser.find_element(By.ID, "retention").text
    assert browser.find_element(By.ID, "history-who").text == "张*（本人）1101**********002X"
    save_screenshot(browser, "hc-history.png")
    assert js_errors(browser) == []


def test_the_notice_says_what_applying_means_and_nothing_is_sent_before_the_box_is_ticked(browser, live_server):
    dev_login(browser, live_server, "e2e-notice")
    _, notice = api(live_server, "GET", "/api/v1/notice")
    shown = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#notice-items li")]
    assert shown == notice["items"]  # the server's notice, in full, in its order
    text = browser.find_element(By.ID, "notice").text
    for point in ("如实", "法律责任", "及时更新", "仅用于疫情防控", "30 天", "配合", "政策"):
        assert point in text, point  # truthful, lawful, up to date, what for and how long, measures, changes
    # The notice comes before the fields it is about.
    assert browser.execute_script(
        "const n = document.getElementById('notice'), f = document.querySelector('#apply input[name=name]');"
        "return !!(n.compareDocumentPosition(f) & Node.DOCUMENT_POSITION_FOLLOWING);")
    save_screenshot(browser, "hc-apply.png")

    submit_application(browser, **APPLICANT, consent=False)
    error = browser.find_element(By.CSS_SELECTOR, '#apply .err[data-for="consent_notice"]')
    wait(browser).until(lambda d: error.text.strip())
    assert "申领须知" in error.text and error.is_displayed()
    box = browser.find_element(By.ID, "consent")
    assert browser.execute_script("return arguments[0].closest('label').nextElementSibling === arguments[1]",
                                  box, error)  # right under the box
    assert browser.switch_to.active_element == box and box.get_attribute("aria-invalid") == "true"
    token = browser.execute_script("return sessionStorage.getItem('hc.token')")
    assert api(live_server, "GET", "/api/v1/persons", token=token)[1]["persons"] == []  # nothing was sent
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", box)
    browser.save_screenshot(str(artifacts_dir() / "hc-apply-consent-error.png"))

    box.click()  # ticking it clears the error
    wait(browser).until(lambda d: not error.is_displayed())
    assert box.get_attribute("aria-invalid") is None


def test_the_id_field_takes_spaces_and_dashes_and_the_pages_name_the_document(browser, live_server):
    dev_login(browser, live_server, "e2e-documents")
    field = browser.find_element(By.NAME, "id_number")
    assert int(field.get_attribute("maxlength")) >= 24
    hint = browser.find_element(By.ID, "hint-id_number")
    assert "港澳台居民居住证" in hint.text and "外国人永久居留身份证" in hint.text and hint.is_displayed()
    assert "hint-id_number" in field.get_attribute("aria-describedby").split()

    submit_application(browser, name="张三", id_number="110105-1949 1231-002x", phone="138 0013 8000")
    wait(browser).until(EC.url_matches(CODE_URL.pattern))
    family = (("陈大文", id_number(region="810000", birth="19850315", seq=42)),  # 港澳台居民居住证
              ("李明", id_number(region="911156", birth="19800101", seq=7)))  # 外国人永久居留身份证
    for name, number in family:
        browser.get(live_server.url + "/m/apply")
        wait(browser).until(EC.visibility_of_element_located((By.ID, "apply")))
        spaced = f"{number[:6]} {number[6:14]} {number[14:]}"
        submit_application(browser, name=name, id_number=spaced, phone="13900139000", relation="family")
        wait(browser).until(EC.url_matches(CODE_URL.pattern))

    browser.get(live_server.url + "/m/")
    wait(browser).until(EC.visibility_of_element_located((By.ID, "persons")))
    rows = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#person-list a")]
    assert len(rows) == 3, rows
    kinds = {r.split("\n")[0]: r for r in rows}
    assert "居民身份证 1101**********002X" in kinds["张*（本人）"]
    assert "港澳台居民居住证" in kinds["陈*文（家人）"] and "外国人永久居留身份证" in kinds["李*（家人）"]
    assert all("待人脸识别" in r for r in rows)  # none face-checked yet
    save_screenshot(browser, "hc-home.png")

    # The code card names the document too (after the face check the code needs).
    next(a for a in browser.find_elements(By.CSS_SELECTOR, "#person-list a") if "陈*文" in a.text).click()
    wait(browser).until(EC.visibility_of_element_located((By.ID, "verify-start"))).click()
    wait(browser).until(lambda d: d.find_element(By.ID, "person-doc").text)
    assert browser.find_element(By.ID, "person-doc").text == "港澳台居民居住证"
    assert browser.find_element(By.ID, "person-id").text.startswith("8100")


def test_applying_works_with_the_keyboard_alone(browser, live_server):
    from selenium.webdriver.common.keys import Keys

    dev_login(browser, live_server, "e2e-keyboard")
    browser.find_element(By.NAME, "name").click()
    typed = (("name", APPLICANT["name"]), ("id_number", APPLICANT["id_number"]), ("phone", APPLICANT["phone"]))
    for field, value in typed:  # each field follows the last in tab order
        active = browser.switch_to.active_element
        assert active.get_attribute("name") == field
        active.send_keys(value, Keys.TAB)
    box = browser.switch_to.active_element
    assert box.get_attribute("id") == "consent"
    box.send_keys(Keys.SPACE, Keys.TAB)
    assert box.is_selected()
    submit = browser.switch_to.active_element
    assert submit.get_attribute("id") == "apply-submit"
    submit.send_keys(Keys.ENTER)
    wait(browser).until(EC.url_matches(CODE_URL.pattern))
    verify_start = wait(browser).until(EC.visibility_of_element_located((By.ID, "verify-start")))
    verify_start.send_keys(Keys.ENTER)  # the face check's button too
    wait(browser).until(lambda d: d.execute_script(
        "const c = document.getElementById('code-card'); return !c.hidden && c.dataset.qr"))
