"""The authority console in headless Chromium at a desktop size, against the real app: an approver
approves another credential's red marker and the citizen's open code page turns red, as does the
dashboard's count; every page, used by keyboard, with screenshots to look at."""
from __future__ import annotations

import re

import pytest

from tests.conftest import NOTICE, Api
from tests.e2e.conftest import CODE_TTL, DESKTOP, LiveServer, artifacts_dir, browser_missing
from tests.e2e.test_browser import api, apply_and_open_code, js_errors, wait
from tests.ids import id_number

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

if browser_missing() is None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC

PASSWORD = "correct horse battery"


def console_user(server: LiveServer, username: str, role: str) -> None:
    server.app.extensions["healthcode"].console.create(username, role, PASSWORD)


def keyboard_login(driver, server: LiveServer, username: str) -> None:
    """Open the console and log in with the keyboard only: the username field has the focus."""
    driver.get(server.url + "/console/")
    wait(driver).until(EC.url_contains("/console/login"))
    assert driver.switch_to.active_element.get_attribute("name") == "username"
    driver.switch_to.active_element.send_keys(username, Keys.TAB)
    driver.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    wait(driver).until(EC.url_to_be(server.url + "/console/"))
    wait(driver).until(lambda d: d.execute_script("return !!window.Chart"))


def kpi(driver, name: str) -> str:
    return driver.find_element(By.ID, f"kpi-{name}").text


def screenshot(driver, name: str) -> None:
    """The whole page at the desktop width, however long it is."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": DESKTOP[0], "height": max(DESKTOP[1], min(height, 4000)), "deviceScaleFactor": 1, "mobile": False})
    try:
        driver.save_screenshot(str(artifacts_dir() / f"hc-console-{name}.png"))
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def console_errors(driver) -> list[str]:
    """The browser's errors, less a form's answer of 422 (its errors shown next to its fields)."""
    return [e for e in js_errors(driver) if "status of 422" not in e]


def test_an_approver_approves_a_red_marker_and_the_citizens_code_and_the_dashboard_turn_red(
        browser, desktop_browser, live_server):
    person_id = apply_and_open_code(browser, live_server, "e2e-console-citizen")
    card = browser.find_element(By.ID, "code-card")
    assert "green" in card.get_attribute("class").split()

    # Another credential proposes the red marker through the API: pending, the code stays green.
    token, _ = live_server.app.extensions["healthcode"].credentials.create("authority", "流调组")
    status, marker = api(live_server, "POST", "/api/v1/authority/markers", token=token, body={
        "person_id": person_id, "kind": "close_contact", "reason": "e2e：与确诊病例同乘航班"})
    assert status == 201 and marker["status"] == "pending", marker

    console_user(live_server, "wang.fang", "authority_approver")
    desk = desktop_browser
    keyboard_login(desk, live_server, "wang.fang")
    assert (kpi(desk, "green"), kpi(desk, "red"), kpi(desk, "pending")) == ("1", "0", "1")
    assert "红码 0 人" in desk.find_element(By.ID, "chart-colors").get_attribute("aria-label")
    screenshot(desk, "dashboard-before")

    desk.find_element(By.LINK_TEXT, "待审批").click()
    row = wait(desk).until(EC.visibility_of_element_located((By.ID, f"pending-{marker['id']}")))
    assert "e2e：与确诊病例同乘航班" in row.text and marker["created_by"] in row.text
    screenshot(desk, "pending")
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    alert = wait(desk).until(EC.alert_is_present())
    assert "立即变为红码" in alert.text
    alert.accept()
    flash = wait(desk).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    assert flash.text == f"已审批通过标记 {marker['id']}，该人员现为红码。"
    assert desk.find_elements(By.ID, "queue-empty")

    # The citizen's open page turns red at its next refresh, without a reload.
    wait(browser, CODE_TTL + 2).until(lambda d: "red" in card.get_attribute("class").split())
    assert browser.find_element(By.ID, "color-label").text == "红码"
    assert browser.execute_script("return window.__hcLoaded === true")

    desk.find_element(By.LINK_TEXT, "概览").click()
    wait(desk).until(lambda d: kpi(d, "red") == "1")
    assert (kpi(desk, "green"), kpi(desk, "pending")) == ("0", "0")
    assert "红码 1 人" in desk.find_element(By.ID, "chart-colors").get_attribute("aria-label")
    assert "密切接触者" in desk.find_element(By.ID, "chart-reasons").get_attribute("aria-label")
    screenshot(desk, "dashboard-after")
    assert console_errors(desk) == [] and js_errors(browser) == []


def _populate(server: LiveServer) -> dict:
    """Something on every page: a citizen with a code scanned twice, an appeal, a risk area, markers."""
    api_ = Api(server.app, server.app.test_client())
    me = api_.login("e2e-console-appellant")
    person = api_.apply(me, id_number=id_number("19850315", 21), name="李四", consent_notice=NOTICE)
    checkpoint = api_.staff("checkpoint", "东门")
    for _ in range(2):
        qr = api_.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
        api_.client.post("/api/v1/scans", json={"qr": qr, "place_id": "东门"}, headers=checkpoint)
    marked = api_.mark({"person_id": person["id"], "kind": "secondary_contact", "reason": "同楼栋"})
    api_.client.post(f"/api/v1/persons/{person['id']}/appeals", headers=me,
                     json={"reason": "本人当日在外地出差，有车票为证。", "marker_id": marked["id"]})
    api_.client.put("/api/v1/authority/risk-areas/440305", headers=api_.staff("authority"),
                    json={"level": "high", "note": "深卫通〔2022〕1号"})
    api_.client.post("/api/v1/authority/markers", headers=api_.staff("authority", "流调组"),
                     json={"id_number": id_number("19700101", 31), "kind": "confirmed", "reason": "核酸复核阳性"})
    return person


def test_every_console_page_by_keyboard_at_a_desktop_size(desktop_browser, live_server):
    _populate(live_server)
    console_user(live_server, "li.ming", "authority")
    console_user(live_server, "chen.jing", "auditor")
    desk = desktop_browser
    desk.get(live_server.url + "/console/login")
    screenshot(desk, "login")
    keyboard_login(desk, live_server, "li.ming")
    # The first Tab reaches the skip link, which takes the keyboard past the navigation.
    desk.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert desk.switch_to.active_element.text == "跳到主要内容"
    wait(desk).until(lambda d: kpi(d, "appeals") == "1")
    screenshot(desk, "dashboard")

    # One red marker by keyboard: a wrong ID number first, its error right under its field.
    desk.find_element(By.LINK_TEXT, "赋码").click()
    field = desk.find_element(By.ID, "f-id_number")
    field.send_keys("110105194912310021")
    desk.find_element(By.ID, "f-kind").send_keys("确")  # a select picks its option by the typed letter
    desk.find_element(By.ID, "f-reason").send_keys("流调判定：与确诊病例同乘 MU5101")
    desk.find_element(By.ID, "f-public_note").send_keys("请居家，等待社区联系", Keys.ENTER)
    error = wait(desk).until(EC.visibility_of_element_located((By.ID, "f-id_number-err")))
    assert error.text == "⚠ 身份证号码有误，请核对" or error.text == "身份证号码有误，请核对"
    field = desk.find_element(By.ID, "f-id_number")
    assert field.get_attribute("aria-invalid") == "true"
    assert "f-id_number-err" in field.get_attribute("aria-describedby")
    assert desk.execute_script("return arguments[0].closest('.field').lastElementChild === arguments[1]",
                               field, error)
    screenshot(desk, "markers-error")
    field.clear()
    field.send_keys(id_number("19600101", 41), Keys.ENTER)
    flash = wait(desk).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".flash.ok")))
    assert "须由另一名工作人员审批" in flash.text
    screenshot(desk, "markers")

    desk.find_element(By.LINK_TEXT, "待审批").click()
    own = wait(desk).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".own")))
    assert own.text == "这是您本人提出的标记，须由另一名工作人员审批。"
    assert len(desk.find_elements(By.CSS_SELECTOR, "button.approve")) == 1  # the other credential's one
    screenshot(desk, "pending-authority")

    desk.find_element(By.LINK_TEXT, "批量赋码").click()
    desk.find_element(By.ID, "f-kind").send_keys("次")
    desk.find_element(By.ID, "f-reason").send_keys("同楼栋居民")
    desk.find_element(By.ID, "f-id_numbers").send_keys(
        "\n".join([id_number("19900101", 51), "11010519491231002", id_number("19910101", 61)]))
    desk.find_element(By.CSS_SELECTOR, "#bulk-form button[type=submit]").click()
    summary = wait(desk).until(EC.visibility_of_element_located((By.ID, "result-summary")))
    assert summary.text.startswith("共 3 行：已受理 2 行")
    screenshot(desk, "bulk")

    desk.find_element(By.LINK_TEXT, "申诉").click()
    wait(desk).until(EC.visibility_of_element_located((By.CSS_SELECTOR, ".appeal")))
    desk.find_element(By.CSS_SELECTOR, ".appeal button[type=submit]").click()
    errors = wait(desk).until(EC.visibility_of_all_elements_located((By.CSS_SELECTOR, ".appeal .err")))
    assert [e.text.lstrip("⚠ ") for e in errors] == ["请选择一项", "请填写此项"]
    screenshot(desk, "appeals")

    desk.find_element(By.LINK_TEXT, "风险地区").click()
    desk.find_element(By.ID, "f-code").send_keys("110105")
    wait(desk).until(lambda d: d.find_element(By.ID, "code-name").text == "→ 北京市朝阳区")
    screenshot(desk, "risk-areas")
    assert console_errors(desk) == []

    desk.find_element(By.ID, "logout").click()
    wait(desk).until(EC.url_contains("/console/login"))
    assert desk.find_element(By.CSS_SELECTOR, ".flash.ok").text == "您已退出登录。"
    keyboard_login(desk, live_server, "chen.jing")
    desk.find_element(By.LINK_TEXT, "审计记录").click()
    desk.find_element(By.ID, "verify").click()
    verdict = wait(desk).until(EC.visibility_of_element_located((By.ID, "verdict")))
    assert re.fullmatch(r"校验通过：共 \d+ 条记录，哈希链完整。", verdict.text)
    screenshot(desk, "audit")
    assert console_errors(desk) == []
