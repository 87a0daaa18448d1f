"""The travel card over HTTP: SMS limits at their edges (Flask-Limiter), the operators' signed feed,
the card with its 4-hour rule and star following the risk table, retirement leaving no trip key."""
import hashlib
import hmac
import json
import time

import pytest

from app import create_app
from tests.conftest import SERVER_URL

SECRET = "test-secret-key-0123456789abcdef0123"
PHONE = "13800138000"


@pytest.fixture
def app(redis_server):
    return create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


def sms_sent(app) -> list[tuple[str, str]]:
    return app.extensions["healthcode"].travel._sms.sent


def prove(app, client, phone=PHONE) -> dict:
    assert client.post("/api/v1/travel/sms", json={"phone": phone}).status_code == 202
    code = sms_sent(app)[-1][1]
    response = client.post("/api/v1/travel/sessions", json={"phone": phone, "sms_code": code})
    assert response.status_code == 201, response.json
    return {"Authorization": "Bearer " + response.json["token"]}


def signed(secret: str, body: bytes, feed="op-1", at=None) -> dict:
    timestamp = str(at or int(time.time()))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Feed-Id": feed, "X-Timestamp": timestamp, "X-Signature": signature,
            "Content-Type": "application/x-ndjson"}


def feed(app, client, rows, secret=None) -> dict:
    secret = secret or app.extensions["healthcode"].feeds.create("op-1", "operator").secret
    body = "\n".join(json.dumps(r) for r in rows).encode()
    response = client.post("/api/v1/feeds/stays", data=body, headers=signed(secret, body))
    assert response.status_code == 200, response.json
    return response.json


def test_the_card_lists_cities_of_four_hours_and_stars_them_by_the_risk_table_now(app, client):
    now = int(time.time())
    result = feed(app, client, [
        {"phone": "+86" + PHONE, "city_code": "440304", "from": now - 5 * 3600, "to": now - 3600},
        {"phone": PHONE, "city_code": "440100", "from": now - 2 * 86400, "to": now - 2 * 86400 + 4 * 3600 - 60},
        {"phone": PHONE, "city_code": "999999", "from": now - 3600, "to": now},
        "not a row",
    ])
    assert result["accepted"] == 2 and [r["line"] for r in result["rejected"]] == [3, 4]
    me = prove(app, client)
    card = client.get("/api/v1/travel/card", headers=me).json
    assert (card["phone_masked"], card["color"], card["window_days"]) == ("138****8000", "green", 14)
    assert [(c["code"], c["name"], c["starred"]) for c in card["cities"]] == [("440300", "广东省深圳市", False)]
    authority = {"Authorization": "Bearer " + app.extensions["healthcode"].credentials.create("authority", "x")[0]}
    assert client.put("/api/v1/authority/risk-areas/440304", headers=authority,
                      json={"level": "medium", "note": "某小区"}).status_code == 200
    card = client.get("/api/v1/travel/card", headers=me).json
    assert card["cities"][0]["starred"] is True and card["color"] == "orange"
    client.put("/api/v1/authority/risk-areas/440304", headers=authority, json={"level": "low", "note": "解封"})
    assert client.get("/api/v1/travel/card", headers=me).json["cities"][0]["starred"] is False


def test_a_number_without_data_says_so(app, client):
    card = client.get("/api/v1/travel/card", headers=prove(app, client)).json
    assert card["cities"] == [] and card["empty_reason"] == "no_data" and "新入网" in card["note"]


def test_the_card_needs_a_proven_phone(client):
    response = client.get("/api/v1/travel/card", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


def test_one_code_per_minute_per_phone_and_nothing_stored_when_refused(app, client, redis_server):
    assert client.post("/api/v1/travel/sms", json={"phone": PHONE}).status_code == 202
    codes_before = set(redis_server.keys("hc:sms:*"))
    again = client.post("/api/v1/travel/sms", json={"phone": PHONE})
    assert again.status_code == 429 and again.json["error"]["code"] == "rate_limited"
    assert 0 < int(again.headers["Retry-After"]) <= 60
    assert set(redis_server.keys("hc:sms:*")) == codes_before and len(sms_sent(app)) == 1
    assert client.post("/api/v1/travel/sms", json={"phone": "13900139000"}).status_code == 202


@pytest.mark.parametrize("limit, sends", [("rate_sms_phone", "1/minute;5/hour;10/day")])
def test_five_an_hour_per_phone(redis_server, limit, sends):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SMS_PHONE": "100/minute;5/hour;10/day"})
    client = app.test_client()
    for _ in range(5):
        assert client.post("/api/v1/travel/sms", json={"phone": PHONE}).status_code == 202
    assert client.post("/api/v1/travel/sms", json={"phone": PHONE}).status_code == 429


def test_ten_a_day_per_phone(redis_server):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SMS_PHONE": "100/minute;100/hour;10/day"})
    client = app.test_client()
    for _ in range(10):
        assert client.post("/api/v1/travel/sms", json={"phone": PHONE}).status_code == 202
    assert client.post("/api/v1/travel/sms", json={"phone": PHONE}).status_code == 429


def test_codes_per_ip_are_limited_across_phones(redis_server):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SMS_IP": "3/hour"})
    client = app.test_client()
    for n in range(3):
        assert client.post("/api/v1/travel/sms", json={"phone": f"1380013800{n}"}).status_code == 202
    assert client.post("/api/v1/travel/sms", json={"phone": "13800138009"}).status_code == 429


def test_the_limiter_keys_hold_no_phone_number(app, client, redis_server):
    client.post("/api/v1/travel/sms", json={"phone": PHONE})
    assert not any(PHONE.encode() in key for key in redis_server.keys("*"))


def test_a_bad_phone_is_422_and_nothing_is_sent(app, client, redis_server):
    response = client.post("/api/v1/travel/sms", json={"phone": "12345"})
    assert response.status_code == 422 and sms_sent(app) == [] and redis_server.keys("hc:sms:*") == []


@pytest.mark.parametrize("tamper", ["bad", "old", "replayed", "lab feed"])
def test_a_stays_batch_with_a_bad_old_or_replayed_signature_stores_nothing(app, client, redis_server, tamper):
    services = app.extensions["healthcode"]
    secret = services.feeds.create("op-1", "operator").secret
    services.feeds.create("lab-1", "lab")
    now = int(time.time())
    body = json.dumps({"phone": PHONE, "city_code": "440304", "from": now - 5 * 3600, "to": now}).encode()
    headers = signed(secret, body, at=now - 301 if tamper == "old" else None)
    if tamper == "bad":
        headers["X-Signature"] = "f" * 64
    elif tamper == "replayed":
        assert client.post("/api/v1/feeds/stays", data=body, headers=headers).status_code == 200
        redis_server.delete(*redis_server.keys("hc:tr:*"))
    elif tamper == "lab feed":
        headers["X-Feed-Id"] = "lab-1"
    response = client.post("/api/v1/feeds/stays", data=body, headers=headers)
    assert response.status_code == 401 and response.json["error"]["code"] == "bad_signature"
    assert redis_server.keys("hc:tr:*") == []


def test_a_redelivered_batch_changes_nothing_and_stays_expire_with_the_window(app, client, redis_server):
    now = int(time.time())
    rows = [{"phone": PHONE, "city_code": "440304", "from": now - 5 * 3600, "to": now - 3600}]
    secret = app.extensions["healthcode"].feeds.create("op-1", "operator").secret
    feed(app, client, rows, secret)
    [key] = redis_server.keys("hc:tr:*")
    before = redis_server.zrange(key, 0, -1)
    time.sleep(1.01)  # a new signature: the operator sends the batch again
    feed(app, client, rows, secret)
    assert redis_server.zrange(key, 0, -1) == before
    ttl = redis_server.ttl(key)
    assert 14 * 86400 - 3600 - 5 <= ttl <= 14 * 86400 - 3600  # a window after the stay ended, not after now


def test_retirement_deletes_every_trip_key_and_turns_the_endpoints_off(app, client, redis_server):
    now = int(time.time())
    feed(app, client, [{"phone": PHONE, "city_code": "440304", "from": now - 5 * 3600, "to": now}])
    prove(app, client)
    client.post("/api/v1/travel/sms", json={"phone": "13900139000"})
    result = app.test_cli_runner().invoke(args=["travel", "retire", "--yes"])
    assert result.exit_code == 0 and "stays: 1 keys" in result.output
    assert [k for k in redis_server.keys("*") if k.startswith((b"hc:tr:", b"hc:sms:", b"hc:tt:"))] == []
    retired = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                          "HEALTHCODE_TRAVEL_RETIRED": True}).test_client()
    for response in (retired.post("/api/v1/travel/sms", json={"phone": PHONE}),
                     retired.get("/api/v1/travel/card", headers={"Authorization": "Bearer x"})):
        assert response.status_code == 410 and "2022年12月13日" in response.json["error"]["message"]


def test_a_stay_in_a_city_that_gets_a_risk_area_turns_the_health_code_yellow(app, client, api):
    now = int(time.time())
    me = api.login()
    person = api.apply(me)  # phone 13800138000
    feed(app, client, [{"phone": PHONE, "city_code": "440106", "from": now - 30 * 3600, "to": now - 24 * 3600}])
    code = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json
    assert code["color"] == "green"
    authority = api.staff("authority")
    client.put("/api/v1/authority/risk-areas/440111", headers=authority, json={"level": "high", "note": "某街道"})
    code = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json
    assert code["color"] == "yellow" and [r["code"] for r in code["reasons"]] == ["from_risk_area"], code
    client.put("/api/v1/authority/risk-areas/440111", headers=authority, json={"level": "low", "note": "解除"})
    assert client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["color"] == "green"


def test_only_codes_sent_count_against_the_limits(redis_server):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SMS_IP": "2/hour"})
    client = app.test_client()
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.1"):  # unreadable numbers share no key, and cost nothing
        bad = client.post("/api/v1/travel/sms", json={"phone": "12345"}, environ_base={"REMOTE_ADDR": ip})
        assert bad.status_code == 422, bad.json
    assert client.post("/api/v1/travel/sms", json={"phone": PHONE}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
                       ).status_code == 202
    down = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                       "HEALTHCODE_SMS_PROVIDER": "none"}).test_client()
    for _ in range(2):  # the provider failed: the phone's minute is still free for the retry
        assert down.post("/api/v1/travel/sms", json={"phone": "13900139000"}).status_code == 503
