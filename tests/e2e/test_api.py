"""The HTTP API end to end (API.md): apply → show → scan, marking, and every named error."""
import base64

import cbor2
import pytest

from tests.conftest import NOTICE
from tests.ids import id_number


def test_login_returns_token_and_persons(api, client):
    response = client.post("/api/v1/sessions", json={"platform": "dev", "code": "alice"})
    assert response.status_code == 201
    body = response.json
    assert body["token"] and body["expires_in"] > 0
    assert body["account"] == {"platform": "dev", "persons": []}


def test_login_errors(client):
    assert client.post("/api/v1/sessions", json={"platform": "dev"}).json["error"]["code"] == "validation_error"
    response = client.post("/api/v1/sessions", json={"platform": "wechat", "code": "x"})
    assert response.status_code == 422 and "platform" in response.json["error"]["fields"]
    response = client.post("/api/v1/sessions", json={"platform": "dev", "code": "x", "extra": 1})
    assert response.status_code == 422 and response.json["error"]["fields"]["extra"] == ["不允许的字段"]


def test_errors_are_in_chinese_unless_english_is_asked_for(api, client):
    me = api.login()
    bad = {"name": "张三", "id_number": "110105194912310021", "phone": "13800138000", "relation": "self",
        "consent_notice": NOTICE}
    zh = client.post("/api/v1/persons", json=bad, headers=me).json["error"]
    assert zh["message"] == "申领信息有误" and zh["fields"] == {"id_number": ["身份证号码有误，请核对"]}
    en = client.post("/api/v1/persons", json=bad, headers={**me, "Accept-Language": "en-US,en;q=0.9"}).json["error"]
    assert en["message"] == "invalid application"
    assert en["fields"] == {"id_number": ["the ID number is not right; please check it"]}
    assert client.get("/api/v1/nowhere?lang=en").json["error"]["code"] == "not_found"
    assert client.get("/api/v1/nowhere").json["error"]["message"] == "未找到"


@pytest.mark.parametrize(
    ("number", "masked", "document"),
    [
        (id_number(birth="19500101", region="440304"), "4403", "resident_id"),  # district younger than its holder
        ("810000199408230021", "8100", "hmt_residence_permit"),
        ("９３２６８２ １９８５０１０１ ００１７", "9326", "foreign_permanent_residence"),  # full-width, spaced
    ],
)
def test_every_kind_of_id_number_can_apply_and_the_view_names_its_document(api, number, masked, document):
    person = api.apply(api.login("alice"), name="René Müller", id_number=number, verify=False)
    assert person["document"] == document
    assert person["id_number_masked"].startswith(masked + "*" * 10) and len(person["id_number_masked"]) == 18
    assert person["name_masked"] == "R*r"


def test_production_has_no_dev_login(redis_server):
    from app import create_app
    from tests.conftest import SERVER_URL

    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_ENV": "production",
                      "HEALTHCODE_SECRET_KEY": "p" * 40, "HEALTHCODE_ALLOW_NON_DURABLE_STORE": True})
    response = app.test_client().post("/api/v1/sessions", json={"platform": "dev", "code": "x"})
    assert response.status_code == 422


@pytest.mark.standalone  # a standalone server of its own, or none
def test_production_refuses_a_store_that_can_lose_writes_and_unknown_environments(redis_server):
    from app import create_app
    from tests.conftest import SERVER_URL

    with pytest.raises(RuntimeError, match="appendfsync always"):  # the test server keeps no AOF
        create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_ENV": "production",
                    "HEALTHCODE_SECRET_KEY": "p" * 40})
    with pytest.raises(RuntimeError, match="HEALTHCODE_ENV"):
        create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_ENV": "prod"})


def test_apply_show_scan(api, client):
    me = api.login("alice")
    person = api.apply(me, name="张三丰", phone="+86 138-0013-8000", id_number="11010519491231002x", verify=False)
    assert person["name_masked"] == "张*丰"
    assert person["id_number_masked"] == "1101**********002X"
    assert person["phone_masked"] == "138****8000"
    assert person["relation"] == "self" and person["verified"] is False
    assert person["document"] == "resident_id"
    refused = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
    assert refused.status_code == 403 and refused.json["error"]["code"] == "verification_required"
    assert refused.json["error"]["message"] == "请先完成人脸识别身份核验"
    failed = client.post(f"/api/v1/persons/{person['id']}/verification", json={"ticket": "fail"}, headers=me)
    assert failed.status_code == 403 and failed.json["error"]["code"] == "forbidden"
    verified = client.post(f"/api/v1/persons/{person['id']}/verification", json={"ticket": "face"}, headers=me)
    assert verified.status_code == 200
    person = {**person, "verified": True}
    assert verified.json == person
    assert client.get("/api/v1/persons", headers=me).json["persons"] == [person]

    code = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json
    assert code["color"] == "green" and code["reasons"] == []
    assert code["meaning"].startswith("绿码")
    assert code["person"] == person
    assert code["qr"].startswith("CNHC1:")
    assert code["issued_at"].endswith("+08:00")

    gate = api.staff("checkpoint", "东门")
    scan = client.post("/api/v1/scans", json={"qr": code["qr"], "place_id": "gate-1"}, headers=gate).json
    assert scan["valid"] is True and scan["color"] == "green" and scan["changed"] is False
    assert scan["person"] == {"name_masked": "张*丰"}

    history = client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json
    assert history["retention_days"] == 30
    assert history["scans"][0]["place"] == "gate-1" and history["scans"][0]["result"] == "green"
    assert history["changes"][0]["to"] == "green"


def test_code_carries_no_id_number(api, client):
    import base45

    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    raw = base45.b45decode(qr.removeprefix("CNHC1:"))
    payload = cbor2.loads(cbor2.loads(raw).value[2])
    assert "11010519491231002X" not in repr(payload) and "张三" not in repr(payload)
    assert payload[-2] == "张*"


def test_marker_turns_code_red_everywhere(api, client):
    me = api.login()
    person = api.apply(me)
    old_qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    authority = api.staff("authority")
    marker = api.mark({"id_number": "11010519491231002X", "kind": "close_contact", "reason": "流调判定"}, authority)
    assert marker["color_before"] == "green" and marker["color_after"] == "red"
    assert marker["until"] and marker["until"] > marker["since"]  # the policy's 14 days

    code = client.get(f"/api/v1/persons/{person['id']}/health-code?lang=en", headers=me).json
    assert code["color"] == "red"
    assert code["reasons"][0]["code"] == "close_contact"
    assert code["reasons"][0]["text"] == "Close contact" and code["reasons"][0]["until"]

    gate = api.staff("checkpoint")
    scan = client.post("/api/v1/scans", json={"qr": old_qr}, headers=gate).json
    assert scan["valid"] is True and scan["color"] == "red" and scan["changed"] is True

    response = client.delete(f"/api/v1/authority/markers/{marker['id']}", json={"reason": "误判"}, headers=authority)
    assert response.status_code == 200 and response.json["color_after"] == "green"
    assert client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["color"] == "green"
    changes = client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["changes"]
    assert [(c["from"], c["to"]) for c in changes] == [("red", "green"), ("green", "red"), (None, "green")]


def test_marker_errors(api, client):
    authority = api.staff("authority")
    post = lambda body, headers=authority: client.post("/api/v1/authority/markers", json=body, headers=headers)  # noqa: E731
    assert post({"id_number": "11010519491231002X", "kind": "zombie", "reason": "x"}).status_code == 422
    assert post({"id_number": "110105194912310021", "kind": "confirmed", "reason": "x"}).status_code == 422
    assert post({"kind": "confirmed", "reason": "x"}).status_code == 422
    assert post({"person_id": "0" * 24, "kind": "confirmed", "reason": "x"}).status_code == 404
    assert post({"id_number": "11010519491231002X", "kind": "confirmed", "reason": "x"},
                api.staff("checkpoint")).json["error"]["code"] == "forbidden"
    assert post({"id_number": "11010519491231002X", "kind": "confirmed", "reason": "x"}, {}).status_code == 401
    response = client.delete("/api/v1/authority/markers/nope", json={"reason": "x"}, headers=authority)
    assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_apply_validation_errors_change_nothing(api, client, redis_server):
    me = api.login()
    before = set(redis_server.keys("hc:p:*"))
    response = client.post("/api/v1/persons", headers=me, json={
        "name": "张3", "id_number": "110105194912310021", "phone": "010-12345678", "relation": "self",
            "consent_notice": NOTICE})
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == {"name", "id_number", "phone"}
    for bad_date in ("110105194913310021",):
        response = client.post("/api/v1/persons", headers=me, json={
            "name": "张三", "id_number": bad_date, "phone": "13800138000", "relation": "self",
            "consent_notice": NOTICE})
        assert response.status_code == 422 and "id_number" in response.json["error"]["fields"]
    assert set(redis_server.keys("hc:p:*")) == before
    assert client.get("/api/v1/persons", headers=me).json["persons"] == []


def test_apply_conflicts_and_family_limit(api, client):
    alice, bob = api.login("alice"), api.login("bob")
    api.apply(alice)
    response = client.post("/api/v1/persons", headers=alice, json={
        "name": "李四", "id_number": id_number(seq=1), "phone": "13800138001", "relation": "self",
            "consent_notice": NOTICE})
    assert response.status_code == 409 and response.json["error"]["code"] == "conflict"
    response = client.post("/api/v1/persons", headers=bob, json={
        "name": "张三", "id_number": "11010519491231002X", "phone": "13800138001", "relation": "self",
            "consent_notice": NOTICE})
    assert response.status_code == 409
    # the same person applied for as family from another account is one person
    family = api.apply(bob, relation="family")
    assert family["id"] == client.get("/api/v1/persons", headers=alice).json["persons"][0]["id"]
    for seq in range(2, 6):
        api.apply(bob, relation="family", name="王五", id_number=id_number(seq=seq))
    response = client.post("/api/v1/persons", headers=bob, json={
        "name": "王五", "id_number": id_number(seq=9), "phone": "13800138001", "relation": "family",
            "consent_notice": NOTICE})
    assert response.status_code == 409


def test_name_must_match_existing_person(api, client):
    api.apply(api.login("alice"))
    response = client.post("/api/v1/persons", headers=api.login("bob"), json={
        "name": "李四", "id_number": "11010519491231002X", "phone": "13800138001", "relation": "family",
            "consent_notice": NOTICE})
    assert response.status_code == 422 and "name" in response.json["error"]["fields"]


def test_other_accounts_cannot_see_a_person(api, client):
    person = api.apply(api.login("alice"))
    mallory = api.login("mallory")
    for path in ("/health-code", "/health-code.png", "/history"):
        response = client.get(f"/api/v1/persons/{person['id']}{path}", headers=mallory)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
    assert client.get(f"/api/v1/persons/{person['id']}/health-code").status_code == 401
    assert client.get(f"/api/v1/persons/{person['id']}/health-code",
                      headers={"Authorization": "Bearer forged"}).json["error"]["code"] == "unauthorized"


def test_update_phone_and_unlink(api, client):
    me = api.login()
    person = api.apply(me)
    response = client.patch(f"/api/v1/persons/{person['id']}", json={"phone": "139 0000 1111"}, headers=me)
    assert response.status_code == 200 and response.json["phone_masked"] == "139****1111"
    response = client.patch(f"/api/v1/persons/{person['id']}", json={"phone": "12345"}, headers=me)
    assert response.status_code == 422
    assert client.delete(f"/api/v1/persons/{person['id']}", headers=me).status_code == 204
    assert client.get("/api/v1/persons", headers=me).json["persons"] == []
    assert client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).status_code == 404


def test_erased_persons_codes_are_revoked_and_markers_survive(api, client):
    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    api.mark({"person_id": person["id"], "kind": "confirmed", "reason": "确诊"})
    client.delete(f"/api/v1/persons/{person['id']}", headers=me)
    gate = api.staff("checkpoint")
    assert client.post("/api/v1/scans", json={"qr": qr}, headers=gate).json == {
        "valid": False, "reason": "revoked", "checked_at": client.post(
            "/api/v1/scans", json={"qr": qr}, headers=gate).json["checked_at"]}
    again = api.apply(me)
    assert client.get(f"/api/v1/persons/{again['id']}/health-code", headers=me).json["color"] == "red"


def test_verification(api, client):
    me = api.login()
    person = api.apply(me)
    url = f"/api/v1/persons/{person['id']}/verification"
    assert client.post(url, json={"ticket": "fail"}, headers=me).status_code == 403
    response = client.post(url, json={"ticket": "face-ok"}, headers=me)
    assert response.status_code == 200 and response.json["verified"] is True
    assert client.get("/api/v1/persons", headers=me).json["persons"][0]["verified"] is True


def test_scan_failures(api, client):
    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    gate = api.staff("checkpoint")
    scan = lambda text: client.post("/api/v1/scans", json={"qr": text}, headers=gate).json  # noqa: E731
    assert scan("hello")["reason"] == "malformed"
    assert scan("CNHC1:" + "A" * 40)["reason"] == "malformed"
    tampered = qr[:-3] + ("AAA" if qr[-3:] != "AAA" else "BBB")
    assert scan(tampered)["reason"] in ("bad_signature", "malformed")
    assert client.post("/api/v1/scans", json={"qr": qr}, headers=me).status_code == 401
    assert client.post("/api/v1/scans", json={"qr": qr}, headers=api.staff("authority")).status_code == 403
    assert client.post("/api/v1/scans", json={"qr": qr, "x": 1}, headers=gate).status_code == 422


def test_expired_code(api, client, monkeypatch):
    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    codes = api.app.extensions["healthcode"].codes
    real_clock = codes._clock
    monkeypatch.setattr(codes, "_clock", type("Later", (), {"now": lambda self: real_clock.now() + 61})())
    scan = client.post("/api/v1/scans", json={"qr": qr}, headers=api.staff("checkpoint")).json
    assert scan["valid"] is False and scan["reason"] == "expired"


def test_key_rotation_and_retirement(api, client, app):
    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    keyring = app.extensions["healthcode"].keys
    old_kid = client.get("/.well-known/health-code-keys").json["keys"][0]["kid"]
    new_kid = keyring.rotate()
    jwks = client.get("/.well-known/health-code-keys").json["keys"]
    assert {k["kid"] for k in jwks} == {old_kid, new_kid}
    assert all(k["kty"] == "EC" and k["crv"] == "P-256" and k["alg"] == "ES256" and k["iss"] for k in jwks)
    gate = api.staff("checkpoint")
    assert client.post("/api/v1/scans", json={"qr": qr}, headers=gate).json["valid"] is True
    keyring.retire(old_kid)
    scan = client.post("/api/v1/scans", json={"qr": qr}, headers=gate).json
    assert scan["reason"] == "unknown_key" and scan["detail"] == "key_retired"
    fresh = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    assert client.post("/api/v1/scans", json={"qr": fresh}, headers=gate).json["valid"] is True


def test_qr_images(api, client):
    me = api.login()
    person = api.apply(me)
    png = client.get(f"/api/v1/persons/{person['id']}/health-code.png", headers=me)
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    svg = client.get(f"/api/v1/persons/{person['id']}/health-code.svg", headers=me)
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    body = client.get(f"/api/v1/persons/{person['id']}/health-code?image=svg", headers=me).json
    assert base64.b64decode(body["qr_image"].split(",", 1)[1]).startswith(b"<svg")


def test_openapi_and_docs(client):
    spec = client.get("/openapi.json").json
    assert "/api/v1/persons/{person_id}/health-code" in spec["paths"]
    assert "ApplicationSchema" in str(spec["components"]["schemas"]) or "Application" in str(spec["components"])
    assert client.get("/docs").status_code == 200
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200


def test_errors_are_json_under_api(client):
    for response in (client.get("/api/v1/nowhere"), client.put("/api/v1/sessions"),
                     client.post("/api/v1/sessions", data="{not json", content_type="application/json")):
        assert response.is_json and "code" in response.json["error"], response.data


def test_ops_endpoints(client):
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ready"}


def test_a_token_only_works_for_its_own_account(api, client):
    me = api.login("alice")
    person = api.apply(me)
    token = me["Authorization"].removeprefix("Bearer ")
    _, secret = token.split(".", 1)
    mallory = api.login("mallory")["Authorization"].removeprefix("Bearer ")
    forged = {"Authorization": "Bearer " + mallory.split(".", 1)[0] + "." + secret}
    for path in ("/health-code", "/history"):
        response = client.get(f"/api/v1/persons/{person['id']}{path}", headers=forged)
        assert response.status_code == 401, path
    no_dot = {"Authorization": "Bearer " + secret}
    assert client.get(f"/api/v1/persons/{person['id']}/health-code", headers=no_dot).status_code == 401
    assert client.get("/api/v1/persons", headers=no_dot).status_code == 401


def test_metrics_count_requests_by_endpoint_without_person_ids(api, client):
    me = api.login()
    person = api.apply(me)
    client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'healthcode_http_requests_total{endpoint="citizen.health_code",method="GET",status="200"}' in text
    assert "healthcode_http_request_seconds_bucket" in text
    assert person["id"] not in text and "张" not in text


def test_family_code_and_history_need_the_family_members_identity_check(api, client):
    api.apply(api.login("grandma"))
    me = api.login("grandson")
    family = api.apply(me, relation="family", verify=False)
    url = f"/api/v1/persons/{family['id']}/history"
    for path in (url, f"/api/v1/persons/{family['id']}/health-code", f"/api/v1/persons/{family['id']}/health-code.svg"):
        response = client.get(path, headers=me)
        assert response.status_code == 403 and response.json["error"]["code"] == "verification_required"
    client.post(f"/api/v1/persons/{family['id']}/verification", json={"ticket": "face-ok"}, headers=me)
    assert client.get(url, headers=me).status_code == 200


def test_marker_dates_out_of_range_are_refused_and_change_nothing(api, client, redis_server):
    me = api.login()
    person = api.apply(me)
    authority = api.staff("authority")
    for extra in ({"until": "9999-12-31T23:59:59+00:00"}, {"since": "0001-01-01T00:00:00+08:00"},
                  {"since": "2030-01-01T00:00:00+08:00"}):
        response = client.post("/api/v1/authority/markers", headers=authority,
                               json={"person_id": person["id"], "kind": "confirmed", "reason": "x", **extra})
        assert response.status_code == 422, (extra, response.json)
    assert redis_server.keys("hc:p:*:m") == []
    assert client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["color"] == "green"


def test_a_relative_applying_first_cannot_lock_the_owner_out(api, client):
    mallory = api.login("mallory")
    squatted = api.apply(mallory, relation="family", name="王五", verify=False)  # cannot pass the face check
    owner = api.apply(api.login("zhangsan"), name="张三")  # the person's own, face-checked name wins
    assert owner["id"] == squatted["id"] and owner["name_masked"] == "张*"
    assert client.get("/api/v1/persons", headers=mallory).json["persons"][0]["name_masked"] == "张*"
    response = client.post("/api/v1/persons", headers=api.login("eve"), json={
        "name": "王五", "id_number": "11010519491231002X", "phone": "13800138000", "relation": "family",
            "consent_notice": NOTICE})
    assert response.status_code == 422  # now the owner's name stands


def test_a_refused_application_leaves_no_name_behind(api, client):
    bob = api.login("bob")
    for seq in range(1, 6):
        api.apply(bob, relation="family", name="王五", id_number=id_number(seq=seq))
    response = client.post("/api/v1/persons", headers=bob, json={
        "name": "假名", "id_number": id_number(seq=7), "phone": "13800138001", "relation": "family",
            "consent_notice": NOTICE})
    assert response.status_code == 409
    api.apply(api.login("carol"), name="李四", id_number=id_number(seq=7))


def test_only_the_person_changes_their_own_phone(api, client):
    owner = api.login("owner")
    person = api.apply(owner)
    relative = api.login("relative")
    api.apply(relative, relation="family")
    response = client.patch(f"/api/v1/persons/{person['id']}", json={"phone": "13700137000"}, headers=relative)
    assert response.status_code == 403
    assert client.get("/api/v1/persons", headers=owner).json["persons"][0]["phone_masked"] == "138****8000"
    assert client.patch(f"/api/v1/persons/{person['id']}", json={"phone": "13700137000"},
                        headers=owner).status_code == 200


def test_a_refused_self_application_restores_the_name_it_would_have_replaced(api, client):
    api.apply(api.login("mallory"), relation="family", name="王五", verify=False)
    busy = api.login("busy")
    api.apply(busy, name="李四", id_number=id_number(seq=3))  # this account has its own code already
    response = client.post("/api/v1/persons", headers=busy, json={
        "name": "张三", "id_number": "11010519491231002X", "phone": "13800138000", "relation": "self",
            "consent_notice": NOTICE})
    assert response.status_code == 409
    api.apply(api.login("eve"), relation="family", name="王五")  # the stored name is unchanged


def test_someone_who_knows_only_the_id_number_gets_nothing_and_erases_nothing(api, client):
    carer = api.login("carer")
    grandma = api.apply(carer, relation="family", name="王秀英")
    stranger = api.login("stranger")
    made_up = client.post("/api/v1/persons", headers=stranger, json={
        "name": "某某", "id_number": "11010519491231002X", "phone": "13900139000", "relation": "self",
            "consent_notice": NOTICE})
    assert made_up.status_code == 422  # her name passed a face check: it is final
    claim = api.apply(stranger, name="王秀英", phone="13900139000", verify=False)  # knows name and ID
    assert claim["id"] == grandma["id"] and claim["phone_masked"] == "139****9000"  # as typed
    base = f"/api/v1/persons/{claim['id']}"
    for method, path, body in (("GET", "/health-code", None), ("GET", "/history", None),
                               ("PATCH", "", {"phone": "13900139000"})):
        response = client.open(base + path, method=method, json=body, headers=stranger)
        assert response.status_code == 403 and response.json["error"]["code"] == "verification_required"
    assert client.delete(base, headers=stranger).status_code == 204
    assert client.get("/api/v1/persons", headers=carer).json["persons"] == [grandma]
    assert client.get(f"/api/v1/persons/{grandma['id']}/health-code", headers=carer).status_code == 200

    owner = api.login("grandma")  # the real person: not locked out by the stranger's claim
    mine = api.apply(owner, name="王秀英")
    assert mine["verified"] and mine["relation"] == "self"
    third = client.post("/api/v1/persons", headers=api.login("third"), json={
        "name": "王秀英", "id_number": "11010519491231002X", "phone": "13800138000", "relation": "self",
            "consent_notice": NOTICE})
    assert third.status_code == 409


def test_empty_fields_say_they_are_required(api, client):
    response = client.post("/api/v1/persons", headers=api.login(), json={
        "name": " ", "id_number": "", "phone": "13800138000", "relation": "self", "consent_notice": NOTICE})
    assert response.status_code == 422
    assert response.json["error"]["fields"] == {"name": ["请填写此项"], "id_number": ["请填写此项"]}


def test_history_says_why_the_colour_changed_in_the_clients_language(api, client):
    me = api.login()
    person = api.apply(me)
    client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
    api.mark({"person_id": person["id"], "kind": "close_contact", "reason": "流调"})
    client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
    latest = client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["changes"][0]
    assert (latest["to"], latest["reason_codes"], latest["reasons"]) == ("red", ["close_contact"], ["密切接触者"])
    english = client.get(f"/api/v1/persons/{person['id']}/history?lang=en", headers=me).json["changes"][0]
    assert english["reasons"] == ["Close contact"]


def test_a_place_can_be_named_as_people_read_it_but_not_with_markup(api, client):
    me = api.login()
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    gate = api.staff("checkpoint")
    assert client.post("/api/v1/scans", json={"qr": qr, "place_id": "东门 3号楼"}, headers=gate).json["valid"]
    assert client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["scans"][0]["place"] == "东门 3号楼"
    for bad in ("<b>x</b>", "东门\n", "东门\u202e", "\u3164\u3164", " 东门", "a" * 65):
        refused = client.post("/api/v1/scans", json={"qr": qr, "place_id": bad}, headers=gate)
        assert refused.status_code == 422 and "place_id" in refused.json["error"]["fields"], repr(bad)
    for name, stored in (("दिल्ली", "दिल्ली"), ("ལྷ་ས", "ལྷ་ས"), ("３号楼", "3号楼")):
        assert client.post("/api/v1/scans", json={"qr": qr, "place_id": name}, headers=gate).json["valid"]
        assert client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["scans"][0]["place"] == stored
