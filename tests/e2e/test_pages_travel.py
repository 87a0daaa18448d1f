"""The travel card page (/m/travel, 通信行程卡) in headless Chromium on a 360×640 phone: the SMS proof
with its countdown (and the server's Retry-After), the card with the operators' stays, the star that
follows the risk table, the moving ring, the note, why an empty card is empty, an error at the field
it concerns, and the page after retirement (2022-12-13).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

import tests.e2e.conftest as e2e
from app import create_app
from tests.e2e.conftest import LiveServer, artifacts_dir, browser_missing
from tests.e2e.test_browser import api, js_errors, wait

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

if browser_missing() is None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

CN_TZ = dt.timezone(dt.timedelta(hours=8))
PHONE = "13800138000"
SMALL_PHONE = (360, 640)  # CSS pixels: a small Android phone
COUNTDOWN = re.compile(r"^(\d+)秒后重新获取$")
POLICY = json.loads((Path(__file__).resolve().parents[2] / "policies" / "travel-card-policy.json")
                    .read_text(encoding="utf-8"))
NOTE = POLICY["note"]["zh"].format(days=14, hours=4) + POLICY["star_note"]["zh"]  # the star is on


@pytest.fixture
def phone(monkeypatch, request):
    """The conftest's browser as a small phone (360×640 CSS pixels), the size the page must fit."""
    monkeypatch.setattr(e2e, "PHONE", SMALL_PHONE)
    return request.getfixturevalue("browser")


def script_errors(driver) -> list[str]:
    """The page's script errors; the console's lines for the API's expected 4xx answers left out."""
    return [e for e in js_errors(driver) if "Failed to load resource" not in e]


def screenshot(driver, name: str) -> Path:
    path = artifacts_dir() / name
    driver.save_screenshot(str(path))
    return path


def post_stays(server: LiveServer, rows: list[dict]) -> dict:
    """An operator's signed batch of stays (API.md: HMAC-SHA256 of timestamp + "." + body)."""
    secret = server.app.extensions["healthcode"].feeds.create("op-1", "operator").secret
    body = "\n".join(json.dumps(r) for r in rows).encode()
    timestamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(server.url + "/api/v1/feeds/stays", data=body, method="POST", headers={
        "X-Feed-Id": "op-1", "X-Timestamp": timestamp, "X-Signature": signature,
        "Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def set_risk_area(server: LiveServer, code: str, level: str) -> None:
    token, _ = server.app.extensions["healthcode"].credentials.create("authority", "疾控")
    status, _ = api(server, "PUT", f"/api/v1/authority/risk-areas/{code}", {"level": level, "note": "e2e: 某小区"},
                    token=token)
    assert status == 200


def sent_codes(server: LiveServer) -> list[tuple[str, str]]:
    return server.app.extensions["healthcode"].travel._sms.sent


def open_form(driver, server: LiveServer) -> None:
    driver.get(server.url + "/m/travel")
    wait(driver).until(EC.visibility_of_element_located((By.ID, "prove")))


def type_into(driver, element_id: str, text: str) -> None:
    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def request_code(driver, server: LiveServer, phone: str) -> str:
    """Type the phone, press 获取验证码; the code the (console) SMS sender sent to it."""
    before = len(sent_codes(server))
    type_into(driver, "phone", phone)
    driver.find_element(By.ID, "send-code").click()
    wait(driver).until(lambda d: COUNTDOWN.match(d.find_element(By.ID, "send-code").text))
    assert len(sent_codes(server)) == before + 1
    to, code = sent_codes(server)[-1]
    assert to == "+86" + phone
    return code


def submit_code(driver, code: str) -> None:
    type_into(driver, "sms_code", code)
    box = driver.find_element(By.ID, "consent")
    if not box.is_selected():
        box.click()
    driver.find_element(By.ID, "query").click()


def prove_and_open_card(driver, server: LiveServer, phone: str = PHONE) -> None:
    open_form(driver, server)
    submit_code(driver, request_code(driver, server, phone))
    wait(driver).until(EC.visibility_of_element_located((By.ID, "card")))


def shown_cities(driver) -> list[tuple[str, str | None]]:
    """(name, star) of each city on the card, in order; the star as it is drawn (None: no star)."""
    return [(row["name"], row["star"]) for row in driver.execute_script("""
        return [...document.querySelectorAll('#tc-cities li')].map((li) => {
          const star = li.querySelector('.star');
          return {name: li.firstChild.textContent,
                  star: star && star.getBoundingClientRect().width > 0 ? star.textContent : null};
        });""")]


def error_under(driver, field: str):
    return driver.find_element(By.CSS_SELECTOR, f'#prove .err[data-for="{field}"]')


def test_the_card_shows_the_phones_cities_newest_first_with_a_star_and_a_moving_ring(phone, live_server):
    now = int(time.time())
    result = post_stays(live_server, [
        {"phone": PHONE, "city_code": "440304", "from": now - 6 * 3600, "to": now - 3600},  # 深圳 福田, 5 h
        {"phone": PHONE, "city_code": "440106", "from": now - 2 * 86400, "to": now - 2 * 86400 + 5 * 3600},  # 广州
        {"phone": PHONE, "city_code": "110105", "from": now - 6 * 86400, "to": now - 6 * 86400 + 8 * 3600},  # 北京
        {"phone": PHONE, "city_code": "310115", "from": now - 4 * 86400, "to": now - 4 * 86400 + 3 * 3600},  # 3 h
    ])
    assert result["accepted"] == 4, result
    set_risk_area(live_server, "440304", "medium")  # a medium-risk area in 深圳: its city gets the star

    open_form(phone, live_server)
    assert phone.execute_script("return [innerWidth, innerHeight]") == list(SMALL_PHONE)
    assert phone.find_elements(By.ID, "dev-login") == []  # no mini-program login: the phone is the proof
    assert not phone.find_element(By.ID, "card").is_displayed()
    code = request_code(phone, live_server, PHONE)

    # The button counts down from the server's resend interval (60 s), and cannot be pressed meanwhile.
    button = phone.find_element(By.ID, "send-code")
    first = int(COUNTDOWN.match(button.text).group(1))
    assert 57 <= first <= 60 and not button.is_enabled()
    wait(phone, 4).until(lambda d: int(COUNTDOWN.match(button.text).group(1)) < first)
    assert not button.is_enabled() and "已发送" in phone.find_element(By.ID, "hint-sms_code").text
    screenshot(phone, "hc-travel-form.png")

    submit_code(phone, code)
    card = wait(phone).until(EC.visibility_of_element_located((By.ID, "card")))
    assert not phone.find_element(By.ID, "prove").is_displayed()
    assert phone.find_element(By.ID, "tc-phone").text == "138****8000"
    # Newest first, only stays of 4 h or more (上海's 3 h is not there), the star on 深圳 alone.
    assert shown_cities(phone) == [("广东省深圳市", "*"), ("广东省广州市", None), ("北京市", None)]
    assert card.get_attribute("data-color") == "orange" and "orange" in card.get_attribute("class").split()
    reason = POLICY["colors"][1]["text"]["zh"].format(days=14)  # 14天内到达或途经中风险地区所在城市
    assert phone.find_element(By.ID, "tc-reason").text == reason
    assert phone.find_element(By.ID, "tc-days").text == "14"
    assert phone.find_element(By.ID, "tc-live").get_attribute("aria-label") == "橙色行程卡"
    assert not phone.find_element(By.ID, "tc-empty").is_displayed()
    note = phone.find_element(By.ID, "tc-note").text
    assert note == NOTE and "*" in note and "延迟" in note  # the star and the lag explained

    updated = dt.datetime.strptime(phone.find_element(By.ID, "tc-updated").text, "%Y.%m.%d %H:%M:%S")
    assert abs((updated.replace(tzinfo=CN_TZ) - dt.datetime.now(CN_TZ)).total_seconds()) < 10  # China time

    # The ring moves: a running CSS animation whose angle changes from one moment to the next.
    ring = phone.find_element(By.CSS_SELECTOR, "#tc-live .tc-ring")
    style = phone.execute_script(
        "const s = getComputedStyle(arguments[0]);"
        "return {name: s.animationName, play: s.animationPlayState, count: s.animationIterationCount};", ring)
    assert style == {"name": "tc-spin", "play": "running", "count": "infinite"}
    angles = []
    for _ in range(3):
        angles.append(phone.execute_script("return getComputedStyle(arguments[0]).transform", ring))
        time.sleep(0.15)
    assert len(set(angles)) == 3 and "none" not in angles, angles
    assert ring.size["width"] >= 100 and ring.is_displayed()

    # The token stays in this tab: not in the address, not in localStorage.
    assert phone.current_url == live_server.url + "/m/travel"
    kept = phone.execute_script("return JSON.parse(sessionStorage.getItem('hc.travel'))")
    assert kept["token"] and kept["token"] not in phone.current_url
    assert phone.execute_script("return localStorage.length") == 0

    # Everything fits the 360 px screen: nothing wider than the viewport.
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot(phone, "hc-travel-card.png")
    phone.execute_script("document.getElementById('tc-note').scrollIntoView({block: 'end'})")
    screenshot(phone, "hc-travel-card-note.png")

    # A reload shows the card again from this tab's token; 换个手机号查询 forgets it.
    phone.refresh()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "card")))
    assert shown_cities(phone)[0] == ("广东省深圳市", "*")
    phone.find_element(By.ID, "tc-leave").click()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "prove")))
    assert phone.execute_script("return sessionStorage.getItem('hc.travel')") is None
    assert script_errors(phone) == []


def test_the_star_goes_when_the_risk_area_is_lowered_and_a_stay_abroad_stays_yellow(phone, live_server):
    now = int(time.time())
    post_stays(live_server, [
        {"phone": PHONE, "city_code": "440304", "from": now - 6 * 3600, "to": now - 3600},
        {"phone": PHONE, "city_code": "JP", "from": now - 9 * 86400, "to": now - 8 * 86400},  # abroad: a country
    ])
    set_risk_area(live_server, "440304", "high")
    prove_and_open_card(phone, live_server)
    assert shown_cities(phone) == [("广东省深圳市", "*"), ("日本", None)]
    assert phone.find_element(By.ID, "card").get_attribute("data-color") == "red"
    assert phone.find_element(By.ID, "tc-live").get_attribute("aria-label") == "红色行程卡"
    screenshot(phone, "hc-travel-card-red.png")
    set_risk_area(live_server, "440304", "low")
    phone.refresh()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "card")))
    assert shown_cities(phone) == [("广东省深圳市", None), ("日本", None)]
    assert phone.find_element(By.ID, "card").get_attribute("data-color") == "yellow"
    assert phone.find_element(By.ID, "tc-reason").text == POLICY["colors"][2]["text"]["zh"].format(days=14)  # 境外
    assert phone.find_element(By.ID, "tc-live").get_attribute("aria-label") == "黄色行程卡"
    screenshot(phone, "hc-travel-card-yellow.png")


def test_an_empty_card_says_why_it_is_empty(phone, live_server):
    now = int(time.time())
    other = "13900139000"
    post_stays(live_server, [{"phone": other, "city_code": "440304", "from": now - 3 * 3600, "to": now - 3600}])

    prove_and_open_card(phone, live_server)  # no operator data for this number at all
    card = phone.find_element(By.ID, "card")
    assert card.get_attribute("data-empty-reason") == "no_data"
    assert phone.find_elements(By.CSS_SELECTOR, "#tc-cities li") == []
    empty = phone.find_element(By.ID, "tc-empty")
    # The API's why, in the place of the cities: a new number, or the data's lag; the note once, below.
    assert empty.is_displayed() and empty.text.startswith("暂无该号码的行程数据") and "新入网" in empty.text
    assert phone.find_element(By.ID, "tc-note").text == NOTE
    assert card.get_attribute("data-color") == "green"
    screenshot(phone, "hc-travel-card-empty.png")

    # Another number, stays but none of 4 h: its countdown is its own (the first number's does not hold it).
    phone.find_element(By.ID, "tc-leave").click()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "prove")))
    type_into(phone, "phone", other)
    assert phone.find_element(By.ID, "send-code").is_enabled()
    submit_code(phone, request_code(phone, live_server, other))
    wait(phone).until(lambda d: d.find_element(By.ID, "card").get_attribute("data-empty-reason") == "none_in_window")
    assert phone.find_element(By.ID, "tc-phone").text == "139****9000"
    assert phone.find_element(By.ID, "tc-empty").text == "最近14天内没有停留4小时以上的城市"
    assert phone.find_element(By.ID, "tc-note").text == NOTE
    assert phone.find_elements(By.CSS_SELECTOR, "#tc-cities li") == []
    assert script_errors(phone) == []


def test_a_wrong_code_is_shown_under_the_code_field(phone, live_server):
    open_form(phone, live_server)
    code = request_code(phone, live_server, PHONE)
    # A minute on (the page's clock moved on), the button offers to send again.
    phone.execute_script("const real = Date.now; Date.now = () => real() + 61000;")
    wait(phone, 2).until(lambda d: d.find_element(By.ID, "send-code").text == "重新获取")
    assert phone.find_element(By.ID, "send-code").is_enabled()
    submit_code(phone, f"{(int(code) + 1) % 1_000_000:06d}")
    error = error_under(phone, "sms_code")
    wait(phone).until(lambda d: error.text.strip())
    assert error.text == "验证码不正确" and error.is_displayed()
    assert phone.execute_script(  # right under the row of the code field and its button
        "return document.getElementById('sms_code').closest('.sms-row').nextElementSibling === arguments[0]", error)
    assert phone.find_element(By.ID, "sms_code").get_attribute("aria-invalid") == "true"
    assert phone.switch_to.active_element == phone.find_element(By.ID, "sms_code")
    assert error_under(phone, "phone").text == "" and not phone.find_element(By.ID, "prove-alert").is_displayed()
    assert not phone.find_element(By.ID, "card").is_displayed()
    assert phone.execute_script("return sessionStorage.getItem('hc.travel')") is None
    screenshot(phone, "hc-travel-wrong-code.png")

    submit_code(phone, code)  # the right one still works (one wrong try of five)
    wait(phone).until(EC.visibility_of_element_located((By.ID, "card")))


def test_a_bad_number_and_the_missing_consent_are_shown_at_their_fields(phone, live_server):
    open_form(phone, live_server)
    type_into(phone, "phone", "12345")  # too short: said at once, nothing asked of the server
    phone.find_element(By.ID, "send-code").click()
    error = error_under(phone, "phone")
    assert error.text == "请输入 11 位手机号" and error.is_displayed()
    type_into(phone, "phone", "12012345678")  # eleven digits, but no mobile number: the API says so
    phone.find_element(By.ID, "send-code").click()
    wait(phone).until(lambda d: error.text not in ("", "请输入 11 位手机号"))
    assert error.text == "应为中国大陆手机号" and error.is_displayed()
    assert phone.find_element(By.ID, "phone").get_attribute("aria-invalid") == "true"
    assert phone.execute_script(
        "return document.getElementById('phone').closest('label').nextElementSibling === arguments[0]", error)
    assert sent_codes(live_server) == []
    assert phone.find_element(By.ID, "send-code").is_enabled()  # nothing was sent: no countdown
    screenshot(phone, "hc-travel-bad-phone.png")

    code = request_code(phone, live_server, PHONE)
    type_into(phone, "sms_code", code)
    phone.find_element(By.ID, "query").click()  # the consent box not ticked
    consent = error_under(phone, "consent")
    wait(phone).until(lambda d: consent.text.strip())
    assert "同意" in consent.text and not phone.find_element(By.ID, "card").is_displayed()
    assert error_under(phone, "phone").text == ""


def test_asking_again_too_soon_counts_down_from_the_servers_retry_after(phone, live_server):
    open_form(phone, live_server)
    request_code(phone, live_server, PHONE)
    phone.refresh()  # the page's own countdown is gone; the server's limit is not
    wait(phone).until(EC.visibility_of_element_located((By.ID, "prove")))
    type_into(phone, "phone", PHONE)
    button = phone.find_element(By.ID, "send-code")
    assert button.is_enabled() and button.text == "获取验证码"
    button.click()
    error = error_under(phone, "phone")
    wait(phone).until(lambda d: error.text.strip())
    seconds = int(re.fullmatch(r"获取验证码过于频繁，请(\d+)秒后再试", error.text).group(1))
    assert 50 <= seconds <= 60
    assert not button.is_enabled() and seconds - 2 <= int(COUNTDOWN.match(button.text).group(1)) <= seconds
    assert len(sent_codes(live_server)) == 1  # refused: no second SMS
    screenshot(phone, "hc-travel-429.png")


def test_retired_the_page_says_the_card_is_offline(phone, live_server):
    open_form(phone, live_server)
    type_into(phone, "phone", PHONE)
    live_server.app.extensions["healthcode"].travel.retired = True  # 2022-12-13 00:00, the page still open
    phone.find_element(By.ID, "send-code").click()
    retired = wait(phone).until(EC.visibility_of_element_located((By.ID, "retired")))
    assert "行程卡已下线" in retired.text and "2022年12月13日" in retired.text and "删除" in retired.text
    assert not phone.find_element(By.ID, "prove").is_displayed()
    assert not phone.find_element(By.ID, "toast").is_displayed()  # not an error
    assert sent_codes(live_server) == []
    assert script_errors(phone) == []


def test_an_open_card_read_again_after_retirement_says_it_is_offline(phone, live_server):
    prove_and_open_card(phone, live_server)
    live_server.app.extensions["healthcode"].travel.retired = True
    # Back to the page two minutes later: it reads the card again (its 更新于 would be stale) and gets 410.
    phone.execute_script("const real = Date.now; Date.now = () => real() + 120000;"
                         "document.dispatchEvent(new Event('visibilitychange'))")
    retired = wait(phone).until(EC.visibility_of_element_located((By.ID, "retired")))
    assert "行程卡已下线" in retired.text
    assert not phone.find_element(By.ID, "card").is_displayed()
    assert phone.execute_script("return sessionStorage.getItem('hc.travel')") is None
    assert script_errors(phone) == []


def test_a_card_that_cannot_be_read_now_offers_to_try_again(phone, live_server):
    import redis

    prove_and_open_card(phone, live_server)
    travel = live_server.app.extensions["healthcode"].travel

    def store_down(*args, **kwargs):
        raise redis.ConnectionError("down")

    travel.card = store_down  # Redis out of reach for a moment
    try:
        phone.execute_script("const real = Date.now; Date.now = () => real() + 120000;"
                             "document.dispatchEvent(new Event('visibilitychange'))")
        failed = wait(phone).until(EC.visibility_of_element_located((By.ID, "card-failed")))
        assert phone.find_element(By.ID, "card-failed-text").text == "数据服务暂时不可用，请稍后重试"
        assert not phone.find_element(By.ID, "card").is_displayed() and "加载失败" in failed.text
    finally:
        del travel.card
    phone.find_element(By.ID, "card-retry").click()  # the token is still good: no new SMS needed
    wait(phone).until(EC.visibility_of_element_located((By.ID, "card")))
    assert phone.find_element(By.ID, "tc-phone").text == "138****8000" and len(sent_codes(live_server)) == 1


@pytest.fixture
def retired_server(monkeypatch):
    monkeypatch.setattr(e2e, "create_app", lambda config: create_app({**config, "HEALTHCODE_TRAVEL_RETIRED": True}))


def test_on_a_retired_service_the_page_opens_on_the_offline_notice(retired_server, phone, live_server):
    phone.get(live_server.url + "/m/travel")
    retired = wait(phone).until(EC.visibility_of_element_located((By.ID, "retired")))
    assert "行程卡已下线" in retired.find_element(By.TAG_NAME, "h1").text
    assert not phone.find_element(By.ID, "prove").is_displayed()
    # Even a token left in the tab from before shows the notice, not an error.
    phone.execute_script("sessionStorage.setItem('hc.travel', JSON.stringify({token: 'x', until: Date.now() + 6e5}))")
    phone.refresh()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "retired")))
    assert not phone.find_element(By.ID, "card-failed").is_displayed()
    screenshot(phone, "hc-travel-retired.png")
    assert script_errors(phone) == []


def test_the_home_page_links_to_the_travel_card(phone, live_server):
    phone.get(live_server.url + "/m/")
    link = wait(phone).until(EC.visibility_of_element_located((By.ID, "travel-link")))
    assert "通信行程卡" in link.text
    phone.execute_script("arguments[0].scrollIntoView({block: 'end'})", link)
    screenshot(phone, "hc-travel-home-link.png")
    link.click()
    wait(phone).until(EC.visibility_of_element_located((By.ID, "prove")))
    assert phone.current_url == live_server.url + "/m/travel"
