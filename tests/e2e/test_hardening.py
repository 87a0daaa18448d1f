"""Hostile or careless HTTP input, and what every response carries (docs/SECURITY.md)."""
import re

import pytest


@pytest.mark.parametrize("body", ["[" * 100_000, '{"platform": "dev", "code": ' + "9" * 5000 + "}"],
                         ids=["deeply-nested", "5000-digit-integer"])
def test_unparseable_json_is_a_400_not_a_500(client, body, caplog):
    response = client.post("/api/v1/sessions", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_invented_http_methods_do_not_grow_the_metrics(client):
    series = re.compile(r'healthcode_http_requests_total\{endpoint="unmatched",method="other",status="405"\} ([\d.]+)')

    def counted() -> float:
        found = series.search(client.get("/metrics").get_data(as_text=True))
        return float(found.group(1)) if found else 0.0

    before = counted()
    for i in range(5):
        assert client.open("/healthz", method=f"M{i:05d}").status_code == 405
    assert counted() == before + 5
    assert 'method="M00001"' not in client.get("/metrics").get_data(as_text=True)


def test_logout_ends_the_session_on_the_server(api, client):
    me = api.login("alice")
    assert client.get("/api/v1/persons", headers=me).status_code == 200
    assert client.delete("/api/v1/sessions/current", headers=me).status_code == 204
    response = client.get("/api/v1/persons", headers=me)
    assert response.status_code == 401 and response.json["error"]["code"] == "unauthorized"
    assert client.delete("/api/v1/sessions/current", headers=me).status_code == 401


def test_api_responses_are_never_cached(api, client):
    me = api.login("alice")
    for response in (client.get("/api/v1/persons", headers=me), client.get("/api/v1/persons")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/m/", "/m/apply", "/m/code/" + "a" * 24, "/m/history/" + "a" * 24])
def test_pages_forbid_inline_script_and_framing(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    html = response.get_data(as_text=True)
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/m.js">']  # no inline script
    assert re.search(r'<body data-page="\w+">', html)


def test_an_unknown_page_is_a_chinese_page_not_werkzeugs(client):
    response = client.get("/m/nosuch")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "页面不存在" in html and "Not Found" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_wrong_method_on_a_page_says_which_methods_work(client):
    response = client.post("/m/")
    assert response.status_code == 405 and "GET" in response.headers["Allow"]
    assert "无法访问" in response.get_data(as_text=True)


# -- the HTTP edge (issue: every real resident can apply, §4–5) -----------------------------------


def test_a_405_under_the_api_keeps_its_allow_header(client):
    response = client.put("/api/v1/persons")
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_a_404_outside_the_api_is_the_chinese_page_and_under_it_json(client):
    page = client.get("/nowhere")
    assert page.status_code == 404 and "页面不存在" in page.get_data(as_text=True)
    assert page.content_type.startswith("text/html")
    assert client.get("/api/v1/nowhere").json["error"]["code"] == "not_found"


def test_metrics_have_one_charset(client):
    content_type = client.get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1


@pytest.mark.parametrize("reason", ["流调\u202e判定", "a\x00b", "line\x1bbreak", "\u2066isolate\u2069"])
def test_free_text_refuses_control_and_bidi_characters_and_changes_nothing(api, client, redis_server, reason):
    authority = api.staff("authority")
    before = redis_server.dbsize()
    response = client.post("/api/v1/authority/markers", headers=authority,
                           json={"id_number": "11010519491231002X", "kind": "close_contact", "reason": reason})
    assert response.status_code == 422 and list(response.json["error"]["fields"]) == ["reason"]
    assert redis_server.dbsize() == before


def test_free_text_keeps_any_script_and_line_breaks(api, client):
    response = client.post("/api/v1/authority/markers", headers=api.staff("authority"), json={
        "id_number": "11010519491231002X", "kind": "close_contact", "reason": "流调判定\n第2轮 (Ürümqi) — ok"})
    assert response.status_code == 201


def test_the_openapi_schemas_carry_the_validators_constraints(client):
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    application = schemas["Application"]["properties"]
    assert application["relation"]["enum"] == ["self", "family"]
    assert application["id_number"]["maxLength"] == 32
    marker = schemas["MarkerRequest"]["properties"]
    assert marker["reason"]["maxLength"] == 500 and marker["person_id"]["pattern"]
    assert schemas["ScanResult"]["properties"]["reason"]["enum"] == [
        "malformed", "bad_signature", "unknown_key", "expired", "revoked"]
    assert schemas["ScanRequest"]["properties"]["place_id"]["maxLength"] == 64
