"""The pages inside each platform's web-view, in headless Chromium, with dev login off and the
WeChat and Alipay simulators (tests/sims) behind the real adapters over HTTP: the mini-program
opens a page with its login code, which logs in once and leaves the address bar; a page opened
any other way says where to open it; the face check goes the platform's way (WeChat's in the
mini-program, back with ?face_ticket=; Alipay's page opened from the code page).
"""
from __future__ import annotations

import os
import re

import pytest

import tests.e2e.conftest as e2e
from app import create_app
from tests.e2e.conftest import LiveServer, browser_missing
from tests.e2e.test_browser import APPLICANT, CODE_URL, api, js_errors, save_screenshot, submit_application, wait
from tests.sims.alipay import AlipaySimulator, KeyPair
from tests.sims.server import serve
from tests.sims.wechat import WeChatSimulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or ""),
]

if browser_missing() is None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

WX_APP, WX_SECRET = "wx1234567890abcdef", "wx-secret"
ALI_APP, ALI_USER = "2021000000000001", "2088102000000001"


@pytest.fixture(scope="module")
def ali_keys():
    return {"alipay": KeyPair.generate(), "app": KeyPair.generate()}


@pytest.fixture(autouse=True)
def platforms(tmp_path, ali_keys, monkeypatch):
    """The simulators, served; the conftest's live server built with them and without dev login."""
    wechat = WeChatSimulator(apps={WX_APP: WX_SECRET})
    alipay = AlipaySimulator(alipay_key=ali_keys["alipay"], app_keys={ALI_APP: ali_keys["app"]})
    with serve(wechat) as wx_url, serve(alipay) as ali_url:
        (tmp_path / "app.pem").write_text(ali_keys["app"].private_pem)
        config = tmp_path / "platforms.toml"
        config.write_text(f"""
[wechat]
api_base = "{wx_url}/"
timeout = 2
[[wechat.apps]]
app_id = "{WX_APP}"
secret_env = "TEST_PAGES_WX_SECRET"
token = "wx-push-token"

[alipay]
gateway = "{ali_url}/gateway.do"
timeout = 2
[[alipay.apps]]
app_id = "{ALI_APP}"
app_private_key_pem_file = "{tmp_path / 'app.pem'}"
alipay_public_key_pem = '''{ali_keys["alipay"].public_pem}'''
""")
        monkeypatch.setitem(os.environ, "TEST_PAGES_WX_SECRET", WX_SECRET)
        settings = {"HEALTHCODE_PLATFORMS_FILE": str(config), "HEALTHCODE_DEV_LOGIN": False}
        monkeypatch.setattr(e2e, "create_app", lambda base: create_app({**base, **settings}))
        yield wechat, alipay, ali_url


@pytest.fixture
def wechat(platforms) -> WeChatSimulator:
    return platforms[0]


def logins(sim: WeChatSimulator) -> int:
    return sim.calls.count("sns/jscode2session")


def script_errors(browser) -> list[str]:
    """Errors of the pages' scripts (a refused request the page expects is not one)."""
    return [e for e in js_errors(browser) if "Failed to load resource" not in e]


def token_of(browser) -> str | None:
    return browser.execute_script("return sessionStorage.getItem('hc.token')")


def assert_no_dev_login(browser) -> None:
    assert browser.find_elements(By.ID, "dev-login") == [] and browser.find_elements(By.ID, "dev-code") == []
    assert "dev-login-form" not in browser.page_source and "开发环境" not in browser.page_source


def test_the_wechat_login_code_in_the_url_logs_in_once_and_leaves_the_address_bar(browser, wechat, live_server):
    wechat.grant("wx-login-1", "o-zhang")
    browser.get(f"{live_server.url}/m/apply?platform=wechat&code=wx-login-1&app_id={WX_APP}")
    wait(browser).until(EC.visibility_of_element_located((By.ID, "apply")))
    assert browser.current_url == live_server.url + "/m/apply"  # the code is gone from the address bar
    assert token_of(browser) and logins(wechat) == 1
    assert "wx-login-1" not in browser.execute_script(
        "return JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie + location.href")
    assert_no_dev_login(browser)

    browser.refresh()  # a reload has no code to use again, and needs none
    wait(browser).until(EC.visibility_of_element_located((By.ID, "apply")))
    assert logins(wechat) == 1
    submit_application(browser, **APPLICANT)
    wait(browser).until(EC.url_matches(CODE_URL.pattern))
    assert js_errors(browser) == []


def test_the_wechat_face_check_runs_in_the_mini_program_and_comes_back_with_its_ticket(browser, wechat,
                                                                                       live_server):
    wechat.grant("wx-login-1", "o-zhang")
    browser.get(f"{live_server.url}/m/apply?platform=wechat&code=wx-login-1")
    wait(browser).until(EC.visibility_of_element_located((By.ID, "apply")))
    submit_application(browser, **APPLICANT)
    wait(browser).until(EC.url_matches(CODE_URL.pattern))
    code_url = browser.current_url
    person_id = CODE_URL.search(code_url).group(1)

    # The face check is WeChat's (wx.requestFacialVerify, in the mini-program): the page says so.
    verify = wait(browser).until(EC.visibility_of_element_located((By.ID, "verify")))
    assert "人脸识别" in verify.text and "返回微信小程序" in verify.text
    assert not browser.find_element(By.ID, "verify-start").is_displayed()
    assert_no_dev_login(browser)
    save_screenshot(browser, "hc-verify-wechat.png")

    # The mini-program (its own session, the same WeChat user) starts the check and runs it
    # (the simulator passes it), then opens the page again with a new login code and the ticket.
    wechat.grant("wx-login-2", "o-zhang")
    _, session = api(live_server, "POST", "/api/v1/sessions", {"platform": "wechat", "code": "wx-login-2"})
    _, check = api(live_server, "POST", f"/api/v1/persons/{person_id}/verification/start", token=session["token"])
    wechat.grant("wx-login-3", "o-zhang")
    browser.get(f"{code_url}?platform=wechat&code=wx-login-3&face_ticket={check['ticket']}")
    wait(browser).until(lambda d: d.execute_script(
        "const c = document.getElementById('code-card'); return !c.hidden && c.dataset.qr"))
    assert browser.current_url == code_url  # neither the login code nor the ticket stays
    assert browser.find_element(By.ID, "color-label").text == "绿码"
    assert browser.find_element(By.ID, "person-doc").text == "居民身份证"
    assert js_errors(browser) == []


@pytest.mark.parametrize("page", ["/m/", "/m/apply", "/m/code/" + "a" * 24, "/m/history/" + "a" * 24])
def test_opened_without_a_platform_code_and_dev_login_off_a_page_says_where_to_open_it(browser, platforms,
                                                                                      live_server, page):
    browser.get(live_server.url + page)
    gate = wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#login-slot .gate")))
    assert "请从微信、支付宝或国家政务服务平台小程序打开" in gate.text
    assert_no_dev_login(browser)
    assert token_of(browser) is None
    if page == "/m/apply":
        assert not browser.find_element(By.ID, "apply").is_displayed()
        save_screenshot(browser, "hc-open-from-app.png")


def test_a_used_login_code_says_the_login_failed_and_how_to_get_in(browser, wechat, live_server):
    wechat.grant("wx-once", "o-zhang")
    api(live_server, "POST", "/api/v1/sessions", {"platform": "wechat", "code": "wx-once"})  # used up
    browser.get(f"{live_server.url}/m/?platform=wechat&code=wx-once")
    gate = wait(browser).until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#login-slot .gate")))
    assert "登录失败" in gate.text and "返回小程序" in gate.text
    assert not browser.find_element(By.ID, "login-retry").is_displayed()  # the same code would fail again
    assert browser.current_url == live_server.url + "/m/"
    assert token_of(browser) is None
    assert_no_dev_login(browser)


def test_the_alipay_face_check_opens_alipays_page_and_completes_on_return(browser, platforms,
                                                                         live_server: LiveServer):
    _, alipay, ali_url = platforms
    browser.get(f"{live_server.url}/m/apply?platform=alipay&code={alipay.issue_code(user_id=ALI_USER)}")
    wait(browser).until(EC.visibility_of_element_located((By.ID, "apply")))
    assert browser.current_url == live_server.url + "/m/apply"
    submit_application(browser, **APPLICANT, relation="family")
    wait(browser).until(EC.url_matches(CODE_URL.pattern))
    code_url = browser.current_url

    wait(browser).until(EC.visibility_of_element_located((By.ID, "verify")))
    assert "家人本人到场" in browser.find_element(By.ID, "verify").text
    browser.find_element(By.ID, "verify-start").click()
    go = wait(browser).until(EC.visibility_of_element_located((By.ID, "verify-open")))
    assert go.get_attribute("href").startswith(ali_url + "/gateway.do?")
    assert "alipay.user.certify.open.certify" in go.get_attribute("href")
    assert not browser.find_element(By.ID, "verify-start").is_displayed()
    save_screenshot(browser, "hc-verify-alipay.png")

    # Not done yet: saying so does not pass, and the way to Alipay's page stays.
    browser.find_element(By.ID, "verify-done").click()
    wait(browser).until(lambda d: "尚未完成" in d.find_element(By.ID, "toast").text)
    assert browser.find_element(By.ID, "verify-open").is_displayed()
    assert browser.find_element(By.ID, "code-card").get_attribute("hidden")

    go.click()  # Alipay's page: the user shows their face
    wait(browser).until(lambda d: [c.passed for c in alipay.certifications.values()] == ["T"])
    assert browser.current_url.startswith(ali_url)
    browser.back()  # back in the web-view: the page reads the result with the ticket it kept
    wait(browser).until(lambda d: d.execute_script(
        "const c = document.getElementById('code-card'); return !c.hidden && c.dataset.qr"))
    assert browser.current_url == code_url
    assert browser.find_element(By.ID, "color-label").text == "绿码"
    assert not re.search(r"hc\.face\.", browser.execute_script("return Object.keys(sessionStorage).join(' ')"))
    assert script_errors(browser) == []
