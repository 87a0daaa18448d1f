"""The real platforms end to end, over HTTP against their simulators: a WeChat account and an
Alipay account apply with the same ID number, pass each platform's face check and see one
person with one colour; an authority marker turns both red; the colour change reaches the
WeChat account as a subscribe message; revoking in WeChat unlinks only that account."""
import hashlib
import json
import os
import time
import urllib.request

import pytest

from app import create_app
from tests.conftest import NOTICE, SERVER_URL
from tests.sims.alipay import AlipaySimulator, KeyPair
from tests.sims.server import serve
from tests.sims.wechat import WeChatSimulator

SECRET = "test-secret-key-0123456789abcdef0123"
ZHANG = "11010519491231002X"
WX_APP, WX_SECRET, WX_TOKEN, WX_TEMPLATE = "wx1234567890abcdef", "wx-secret", "wx-push-token", "TPL-COLOUR"
ALI_APP = "2021000000000001"


@pytest.fixture(scope="module")
def ali_keys():
    return {"alipay": KeyPair.generate(), "app": KeyPair.generate()}


@pytest.fixture
def world(redis_server, tmp_path, ali_keys):
    wechat = WeChatSimulator(apps={WX_APP: WX_SECRET})
    alipay = AlipaySimulator(alipay_key=ali_keys["alipay"], app_keys={ALI_APP: ali_keys["app"]})
    with serve(wechat) as wx_url, serve(alipay) as ali_url:
        (tmp_path / "app.pem").write_text(ali_keys["app"].private_pem)
        platforms = tmp_path / "platforms.toml"
        platforms.write_text(f"""
[wechat]
api_base = "{wx_url}/"
timeout = 2
[[wechat.apps]]
app_id = "{WX_APP}"
secret_env = "TEST_WX_SECRET"
token = "{WX_TOKEN}"
subscribe_template_id = "{WX_TEMPLATE}"

[alipay]
gateway = "{ali_url}/gateway.do"
timeout = 2
[[alipay.apps]]
app_id = "{ALI_APP}"
app_private_key_pem_file = "{tmp_path / 'app.pem'}"
alipay_public_key_pem = '''{ali_keys["alipay"].public_pem}'''
notify_template_id = "TPL-ALI"
""")
        os.environ["TEST_WX_SECRET"] = WX_SECRET
        app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                          "HEALTHCODE_PLATFORMS_FILE": str(platforms)})
        yield app, app.test_client(), wechat, alipay, ali_url


def bearer(token: str) -> dict:
    return {"Authorization": "Bearer " + token}


def wechat_login(client, sim, openid="o-zhang", code="wx-code-1") -> dict:
    sim.grant(code, openid)
    response = client.post("/api/v1/sessions", json={"platform": "wechat", "code": code})
    assert response.status_code == 201, response.json
    return bearer(response.json["token"])


def alipay_login(client, sim, user_id="2088102000000001") -> dict:
    response = client.post("/api/v1/sessions", json={"platform": "alipay", "code": sim.issue_code(user_id=user_id)})
    assert response.status_code == 201, response.json
    return bearer(response.json["token"])


def apply(client, me, relation) -> dict:
    response = client.post("/api/v1/persons", headers=me, json={
        "name": "张三", "id_number": ZHANG, "phone": "13800138000", "relation": relation, "consent_notice": NOTICE})
    assert response.status_code == 201, response.json
    return response.json


def face_check(client, me, person_id, pass_it) -> dict:
    started = client.post(f"/api/v1/persons/{person_id}/verification/start", headers=me)
    assert started.status_code == 201, started.json
    pass_it(started.json)  # the user shows their face in the platform's UI
    verified = client.post(f"/api/v1/persons/{person_id}/verification", headers=me,
                           json={"ticket": started.json["ticket"]})
    assert verified.status_code == 200 and verified.json["verified"], verified.json
    return verified.json


def colour(client, me, person_id) -> str:
    response = client.get(f"/api/v1/persons/{person_id}/health-code", headers=me)
    assert response.status_code == 200, response.json
    return response.json["color"]


def test_one_person_one_colour_across_wechat_and_alipay_and_the_change_reaches_wechat(world):
    app, client, wechat, alipay, ali_url = world
    in_wechat = wechat_login(client, wechat)
    in_alipay = alipay_login(client, alipay)
    own = apply(client, in_wechat, "self")
    held = apply(client, in_alipay, "family")
    assert own["id"] == held["id"]  # one ID number, one person

    face_check(client, in_wechat, own["id"], lambda check: None)  # the simulator passes verify_ret 10000
    assert wechat.face and all(s.cert_hash for s in wechat.face.values())

    def open_certify_page(check):
        assert check["url"] and check["url"].startswith(ali_url)
        urllib.request.urlopen(check["url"], timeout=5).read()  # opens the page: the face is checked

    face_check(client, in_alipay, held["id"], open_certify_page)
    assert colour(client, in_wechat, own["id"]) == colour(client, in_alipay, held["id"]) == "green"

    wechat.subscribed.add(("o-zhang", WX_TEMPLATE))
    credentials = app.extensions["healthcode"].credentials
    marked = client.post("/api/v1/authority/markers", headers=bearer(credentials.create("authority", "CDC")[0]),
                         json={"id_number": ZHANG, "kind": "close_contact", "reason": "流调判定"})
    assert marked.status_code == 201 and marked.json["status"] == "pending"  # red waits for a second credential
    approved = client.post(f"/api/v1/authority/markers/{marked.json['id']}/approve", json={},
                           headers=bearer(credentials.create("authority_approver", "CDC 2")[0]))
    assert approved.status_code == 200
    assert colour(client, in_wechat, own["id"]) == colour(client, in_alipay, held["id"]) == "red"

    assert app.extensions["healthcode"].notifications.deliver("e2e", block_ms=0) >= 1
    [message] = wechat.sent
    assert message["touser"] == "o-zhang" and message["template_id"] == WX_TEMPLATE
    assert message["data"]["thing1"]["value"] == "张*" and "红" in message["data"]["phrase2"]["value"]
    [ali_message] = alipay.messages  # the Alipay family link, face-checked too, is told as well
    assert ali_message["user_template_id"] == "TPL-ALI"


def signed_push(body: str, token=WX_TOKEN, timestamp=None, nonce="n-1") -> str:
    timestamp = timestamp or str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return f"/webhooks/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}"


def revoke(openid: str) -> str:
    return json.dumps({"ToUserName": "gh_0123456789ab", "FromUserName": "o-platform", "CreateTime": int(time.time()),
                       "MsgType": "event", "Event": "user_authorization_revoke", "OpenID": openid, "AppID": WX_APP,
                       "RevokeInfo": "8"})


def test_revoking_in_wechat_unlinks_only_that_account(world):
    app, client, wechat, alipay, _ = world
    in_wechat, in_alipay = wechat_login(client, wechat), alipay_login(client, alipay)
    person = apply(client, in_wechat, "family")
    apply(client, in_alipay, "family")
    response = client.post(signed_push(revoke("o-zhang")), data=revoke("o-zhang"), content_type="application/json")
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    assert client.get("/api/v1/persons", headers=in_wechat).json["persons"] == []
    assert [p["id"] for p in client.get("/api/v1/persons", headers=in_alipay).json["persons"]] == [person["id"]]


@pytest.mark.parametrize("tamper", ["bad", "missing", "replayed", "stale"])
def test_a_push_with_a_bad_missing_stale_or_replayed_signature_is_401_and_changes_nothing(world, tamper,
                                                                                          redis_server):
    app, client, wechat, alipay, _ = world
    in_wechat = wechat_login(client, wechat)
    apply(client, in_wechat, "family")
    body = revoke("o-zhang")
    url = signed_push(body, timestamp=str(int(time.time()) - 600) if tamper == "stale" else None)
    if tamper == "bad":
        url = url.replace("signature=", "signature=0")
    elif tamper == "missing":
        url = "/webhooks/wechat?timestamp=1&nonce=n"
    elif tamper == "replayed":  # the same signed push again (plain mode signs the query, not the body)
        first = client.post(url, data=revoke("o-other"), content_type="application/json")
        assert first.status_code == 200
    before = {k: redis_server.dump(k) for k in redis_server.keys("hc:a:*")}
    response = client.post(url, data=body, content_type="application/json")
    assert response.status_code == 401 and response.json["error"]["code"] == "bad_signature"
    assert {k: redis_server.dump(k) for k in redis_server.keys("hc:a:*")} == before
    assert len(client.get("/api/v1/persons", headers=in_wechat).json["persons"]) == 1


def test_a_platform_that_is_down_is_503_platform_unavailable(world):
    app, client, wechat, alipay, _ = world
    wechat.http_status["sns/jscode2session"] = 502
    wechat.grant("c", "o-x")
    response = client.post("/api/v1/sessions", json={"platform": "wechat", "code": "c"})
    assert response.status_code == 503 and response.json["error"]["code"] == "platform_unavailable"
    assert response.headers["Retry-After"]


def test_a_used_login_code_is_401_invalid_login_code(world):
    app, client, wechat, alipay, _ = world
    wechat_login(client, wechat, code="once")
    response = client.post("/api/v1/sessions", json={"platform": "wechat", "code": "once"})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_login_code"
