"""The console's login over HTTP: one answer for a wrong password and an unknown user, limits at
their edge, the session cookie's flags, a server-side session that logout and disabling end,
CSRF refusals that change nothing."""
import hashlib

import pytest

from adapters.store.console import console_session_key
from tests.e2e.console import PASSWORD, ConsoleBrowser, add_user, console_app, field_errors, flashes, form_alert
from tests.e2e.test_contract_fixes import free_port

ZHANG = "11010519491231002X"


def set_cookie(response) -> str:
    cookies = [v for k, v in response.headers.items() if k == "Set-Cookie" and "hc_console" in v]
    assert len(cookies) == 1, response.headers
    return cookies[0]


def test_logging_in_lands_on_the_dashboard_and_names_the_user_and_role(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    login_page = browser.get("/console/markers").headers["Location"]
    assert login_page == "/console/login?next=/console/markers"
    response = browser.login("LI.Ming", PASSWORD, page=login_page)
    assert response.status_code == 302 and response.headers["Location"] == "/console/markers"
    page = browser.get("/console/").get_data(as_text=True)
    assert "li.ming<small>赋码人员</small>" in page and "疫情防控概览" in page


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    answers = []
    for username, password in (("li.ming", "wrong password!"), ("wang.fang", PASSWORD), ("li.ming", "")):
        browser = ConsoleBrowser(app)
        response = browser.login(username, password)
        answers.append((response.status_code, form_alert(response), field_errors(response), browser.cookie() is None))
    assert answers[0] == (200, ["用户名或密码错误"], {}, False)
    assert answers[1] == answers[0] and answers[2] == answers[0]


def test_the_session_cookie_is_opaque_httponly_samesite_strict_and_scoped_to_the_console(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.get("/console/login")
    response = browser.post("/console/login", {"username": "li.ming", "password": PASSWORD})
    header = set_cookie(response)
    assert "HttpOnly" in header and "SameSite=Strict" in header and "Path=/console/" in header
    assert "Secure" not in header  # development over plain HTTP
    token = browser.cookie().value
    assert len(token) >= 43 and "li.ming" not in token  # 256 random bits, no data in it
    key = console_session_key(hashlib.sha256(token.encode()).hexdigest())
    assert redis_server.exists(key)
    assert 8 * 3600 - 10 <= redis_server.ttl(key) <= 8 * 3600
    assert not redis_server.keys(f"*{token}*")  # only its hash is stored


def test_the_cookie_is_secure_with_the_setting_and_in_production(redis_server):
    app = console_app(console_cookie_secure=True, console_session_ttl=3600)
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.get("/console/login", base_url="https://localhost")
    response = browser.post("/console/login", {"username": "li.ming", "password": PASSWORD},
                            base_url="https://localhost", headers={"Referer": "https://localhost/console/login"})
    header = set_cookie(response)
    assert header.startswith("__Secure-hc_console=") and "; Secure" in header
    key = console_session_key(hashlib.sha256(browser.cookie().value.encode()).hexdigest())
    assert 3590 <= redis_server.ttl(key) <= 3600


def test_nothing_outside_the_console_gets_a_session_cookie(redis_server):
    client = console_app().test_client()
    response = client.post("/api/v1/sessions", json={"platform": "dev", "code": "alice"})
    assert response.status_code == 201 and "Set-Cookie" not in response.headers
    assert "Set-Cookie" not in client.get("/m/apply").headers


def test_logout_ends_the_session_in_the_store_and_the_old_cookie_opens_nothing(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.login("li.ming")
    browser.get("/console/")
    token = browser.cookie().value
    response = browser.post("/console/logout")
    assert response.headers["Location"] == "/console/login"
    assert not redis_server.exists(console_session_key(hashlib.sha256(token.encode()).hexdigest()))
    assert flashes(browser.get("/console/login")) == ["您已退出登录。"]
    stolen = ConsoleBrowser(app)
    stolen.client.set_cookie("hc_console", token, path="/console/")
    assert stolen.get("/console/").headers["Location"].startswith("/console/login")


def test_logging_in_starts_a_new_session_so_a_planted_one_is_worth_nothing(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.get("/console/login")
    before = browser.cookie().value
    browser.post("/console/login", {"username": "li.ming", "password": PASSWORD})
    assert browser.cookie().value != before
    planted = ConsoleBrowser(app)
    planted.client.set_cookie("hc_console", before, path="/console/")
    assert planted.get("/console/").status_code == 302


def test_a_disabled_users_open_session_ends_at_its_next_request(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.login("li.ming")
    assert browser.get("/console/").status_code == 200
    app.extensions["healthcode"].console.disable("li.ming")
    assert browser.get("/console/").headers["Location"].startswith("/console/login")


def test_login_failures_per_username_stop_at_the_limit_even_the_right_password(redis_server):
    app = console_app(rate_console_login_user="3/minute")
    add_user(app, "li.ming", "authority")
    add_user(app, "wang.fang", "auditor")
    for n in range(3):
        assert ConsoleBrowser(app, ip=f"10.2.0.{n}").login("li.ming", "wrong password!").status_code == 200
    refused = ConsoleBrowser(app, ip="10.2.0.9")
    response = refused.login("li.ming", PASSWORD)
    assert response.status_code == 429 and 0 < int(response.headers["Retry-After"]) <= 60
    assert form_alert(response) == ["登录尝试次数过多，请稍后再试。"] and refused.cookie() is not None
    assert refused.get("/console/").status_code == 302  # not logged in
    assert ConsoleBrowser(app, ip="10.2.0.9").login("wang.fang").status_code == 302  # another user is not held up


def test_login_failures_per_ip_stop_at_the_limit_and_unknown_users_count_too(redis_server):
    app = console_app(rate_console_login_ip="3/minute")
    add_user(app, "li.ming", "authority")
    for name in ("nobody1", "nobody2", "li.ming"):
        assert ConsoleBrowser(app).login(name, "wrong password!").status_code == 200
    assert ConsoleBrowser(app).login("li.ming").status_code == 429
    assert ConsoleBrowser(app, ip="10.1.0.2").login("li.ming").status_code == 302


def test_successful_logins_are_not_counted_against_an_office_behind_one_address(redis_server):
    app = console_app(rate_console_login_ip="3/minute", rate_console_login_user="3/minute")
    add_user(app, "li.ming", "authority")
    for _ in range(6):
        assert ConsoleBrowser(app).login("li.ming").status_code == 302


def test_the_login_form_itself_is_limited_per_ip(redis_server):
    app = console_app(rate_console_form_ip="2/minute")
    browser = ConsoleBrowser(app)
    assert [browser.get("/console/login").status_code for _ in range(3)] == [200, 200, 429]


def test_a_login_post_without_its_csrf_token_is_refused(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.get("/console/login")
    response = browser.post("/console/login", {"username": "li.ming", "password": PASSWORD}, csrf=False)
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert browser.get("/console/").status_code == 302


def test_a_form_post_without_the_token_or_with_another_sessions_changes_nothing(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    attacker, victim = ConsoleBrowser(app), ConsoleBrowser(app)
    attacker.login("wang.fang", "x")  # a login page's token of another session
    victim.login("li.ming")
    victim.get("/console/markers")
    before = set(redis_server.keys("hc:p:*")) | set(redis_server.keys("hc:{audit}*"))
    body = {"id_number": ZHANG, "kind": "close_contact", "reason": "跨站伪造"}
    assert victim.post("/console/markers", body, csrf=False).status_code == 400
    assert victim.post("/console/markers", {**body, "csrf_token": attacker.token}).status_code == 400
    assert victim.post("/console/markers", {**body, "csrf_token": victim.token + "x"}).status_code == 400
    assert set(redis_server.keys("hc:p:*")) | set(redis_server.keys("hc:{audit}*")) == before
    assert app.extensions["healthcode"].marking.pending() == []
    assert victim.post("/console/markers", body).status_code == 302  # with its own token it goes through


def test_the_next_page_after_login_is_always_one_of_the_console(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    for target in ("https://evil.example/console/", "//evil.example/console/", "/m/", "/console\\..\\x"):
        browser = ConsoleBrowser(app)
        browser.get("/console/login")
        response = browser.post("/console/login", {"username": "li.ming", "password": PASSWORD, "next": target})
        assert response.headers["Location"] == "/console/", target


def test_console_pages_are_not_cached_and_run_only_our_own_scripts(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.login("li.ming")
    for path in ("/console/login", "/console/", "/console/markers"):
        response = browser.get(path)
        assert response.headers["Cache-Control"] == "no-store"
        assert "script-src 'self';" in response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert "<script>" not in response.get_data(as_text=True)


@pytest.mark.standalone  # a standalone server of its own, or none
def test_a_store_outage_is_a_503_page_even_when_a_session_cookie_must_be_read(redis_server):
    app = console_app(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    browser = ConsoleBrowser(app)
    assert browser.get("/console/login").status_code == 503
    browser.client.set_cookie("hc_console", "a-session-id", path="/console/")
    for response in (browser.get("/console/"), browser.post("/console/login", {"username": "li.ming"})):
        assert response.status_code == 503 and "服务暂时不可用" in response.get_data(as_text=True)


def test_a_link_from_another_site_goes_on_from_here_so_the_strict_cookie_keeps_the_session(redis_server):
    app = console_app()
    add_user(app, "li.ming", "authority")
    browser = ConsoleBrowser(app)
    browser.login("li.ming")
    token = browser.cookie().value
    arrival = ConsoleBrowser(app)  # what the browser sends for a link in a chat: no Strict cookie
    response = arrival.get("/console/markers/pending?x=1", headers={"Sec-Fetch-Site": "cross-site",
                                                                   "Sec-Fetch-Mode": "navigate"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert '<meta http-equiv="refresh" content="0;url=/console/markers/pending?x=1">' in html
    assert browser.get("/console/markers/pending").status_code == 200 and browser.cookie().value == token
    same_site = ConsoleBrowser(app).get("/console/markers/pending", headers={"Sec-Fetch-Site": "same-origin",
                                                                             "Sec-Fetch-Mode": "navigate"})
    assert same_site.status_code == 302
