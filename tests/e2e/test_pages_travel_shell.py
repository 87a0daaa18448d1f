"""The travel card page as served (no browser): the shell, its content policy, the retired notice."""
import re

import pytest

from app import create_app
from blueprints.headers import PAGE_POLICY
from tests.conftest import SERVER_URL

SECRET = "test-secret-key-0123456789abcdef0123"


def served(html: str, element_id: str) -> str:
    """The opening tag of the element with this id."""
    found = re.search(rf'<[a-z]+\b[^>]*\bid="{element_id}"[^>]*>', html)
    assert found, element_id
    return found.group(0)


def test_the_page_is_served_with_the_pages_strict_content_policy(client):
    response = client.get("/m/travel")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY
    assert "script-src 'self';" in PAGE_POLICY and "unsafe-inline" not in PAGE_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/m.js">']  # the page's JS: m/travel.js
    assert " style=" not in html  # style-src 'self' would drop inline styles
    assert '<body data-page="travel" data-login="none">' in html  # no mini-program login needed
    for element in ("prove", "phone", "sms_code", "send-code", "consent", "query", "card", "tc-live", "tc-cities"):
        served(html, element)
    assert "获取验证码" in html and "前14天内到访地信息" in html  # the policy's window, in Chinese
    assert " hidden" in served(html, "retired")


def test_the_pages_script_is_served(client):
    response = client.get("/static/m/travel.js")
    assert response.status_code == 200
    script = response.get_data(as_text=True)
    assert 'HC.pages.travel' in script and "localStorage" not in script  # the token: sessionStorage only


@pytest.fixture
def retired(redis_server):
    return create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                       "HEALTHCODE_TRAVEL_RETIRED": True}).test_client()


def test_retired_the_page_opens_on_the_offline_notice_not_an_error(retired):
    response = retired.get("/m/travel")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-retired="1"' in html
    assert " hidden" not in served(html, "retired")
    assert "行程卡已下线" in html and "2022年12月13日0时" in html
    assert response.headers["Content-Security-Policy"] == PAGE_POLICY


def test_the_home_page_links_to_the_travel_card(client):
    html = client.get("/m/").get_data(as_text=True)
    assert 'href="/m/travel"' in html and "通信行程卡" in html
