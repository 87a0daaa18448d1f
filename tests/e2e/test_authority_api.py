"""The authority API over HTTP: two credentials for red, roles, appeals, audit, feeds, dashboard."""
import hashlib
import hmac
import json
import time

from tests.ids import id_number

ZHANG = "11010519491231002X"


def code_of(api, me, person) -> dict:
    return api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json


def test_a_red_marker_waits_for_a_second_credential_and_never_the_same(api, client):
    me = api.login()
    person = api.apply(me)
    proposer = api.staff("authority", "甲")
    proposed = client.post("/api/v1/authority/markers", headers=proposer,
                           json={"person_id": person["id"], "kind": "confirmed", "reason": "流调",
                                 "public_note": "请居家"})
    assert proposed.status_code == 201 and proposed.json["status"] == "pending" and proposed.json["lapses_at"]
    assert code_of(api, me, person)["color"] == "green"
    queue = client.get("/api/v1/authority/markers/pending", headers=api.staff("authority_approver")).json["markers"]
    assert [m["id"] for m in queue] == [proposed.json["id"]]
    own = client.post(f"/api/v1/authority/markers/{proposed.json['id']}/approve", json={}, headers=proposer)
    assert own.status_code == 403 and own.json["error"]["code"] == "forbidden"
    checkpoint = client.post(f"/api/v1/authority/markers/{proposed.json['id']}/approve", json={},
                             headers=api.staff("checkpoint"))
    assert checkpoint.status_code == 403
    approved = client.post(f"/api/v1/authority/markers/{proposed.json['id']}/approve", json={},
                           headers=api.staff("authority_approver", "乙"))
    assert approved.status_code == 200 and approved.json["color_after"] == "red"
    code = code_of(api, me, person)
    assert code["color"] == "red" and code["reasons"][0]["note"] == "请居家" and code["help"]["hotline"]


def test_an_approver_cannot_mark_and_only_an_auditor_reads_the_trail(api, client):
    marker = {"id_number": ZHANG, "kind": "confirmed", "reason": "x"}
    assert client.post("/api/v1/authority/markers", json=marker, headers=api.staff("authority_approver")).status_code \
        == 403
    assert client.get("/api/v1/authority/audit", headers=api.staff("authority")).status_code == 403
    assert client.get("/api/v1/authority/audit", headers=api.staff("auditor")).status_code == 200


def test_the_audit_trail_over_http_lists_and_verifies(api, client, redis_server):
    api.mark({"id_number": ZHANG, "kind": "close_contact", "reason": "流调"})
    auditor = api.staff("auditor")
    entries = client.get("/api/v1/authority/audit", headers=auditor).json["entries"]
    assert [e["action"] for e in entries] == ["marker.propose", "marker.approve"]
    assert entries[1]["prev_hash"] == entries[0]["hash"] and entries[0]["before"] == "green"
    assert client.get("/api/v1/authority/audit?since=1", headers=auditor).json["entries"] == entries[1:]
    assert client.get("/api/v1/authority/audit/verify", headers=auditor).json == {
        "ok": True, "entries": 2, "broken_at": None, "problem": None}
    raw = json.loads(redis_server.lindex("hc:{audit}:log", 0))
    redis_server.lset("hc:{audit}:log", 0, json.dumps({**raw, "reason": "改了"}))
    verdict = client.get("/api/v1/authority/audit/verify", headers=auditor).json
    assert (verdict["ok"], verdict["broken_at"], verdict["problem"]) == (False, 1, "edited")


def test_the_appeal_round_trip(api, client):
    me = api.login()
    person = api.apply(me)
    marker = api.mark({"person_id": person["id"], "kind": "close_contact", "reason": "流调"})
    made = client.post(f"/api/v1/persons/{person['id']}/appeals", headers=me,
                       json={"reason": "那天我在外地", "marker_id": marker["id"]})
    assert made.status_code == 201 and made.json["status"] == "open"
    authority = api.staff("authority")
    listed = client.get("/api/v1/authority/appeals?status=open", headers=authority).json["appeals"]
    assert [a["id"] for a in listed] == [made.json["id"]]
    no_reason = client.post(f"/api/v1/authority/appeals/{made.json['id']}/decision", headers=authority,
                            json={"decision": "upheld"})
    assert no_reason.status_code == 422
    decided = client.post(f"/api/v1/authority/appeals/{made.json['id']}/decision", headers=authority,
                          json={"decision": "upheld", "reason": "行程核实，误判"})
    assert decided.status_code == 200 and decided.json["status"] == "upheld"
    assert code_of(api, me, person)["color"] == "green"
    mine = client.get(f"/api/v1/persons/{person['id']}/appeals", headers=me).json["appeals"]
    assert mine[0]["status"] == "upheld" and mine[0]["decision_reason"] == "行程核实，误判"


def test_a_declaration_turns_yellow(api, client):
    me = api.login()
    person = api.apply(me)
    declared = client.post(f"/api/v1/persons/{person['id']}/declarations", headers=me,
                           json={"symptoms": ["发热"], "contact_with_case": False, "note": ""})
    assert declared.status_code == 200 and declared.json["color"] == "yellow"
    assert declared.json["reasons"][0]["code"] == "symptoms"


def test_risk_areas_over_http(api, client):
    authority = api.staff("authority")
    set_ = client.put("/api/v1/authority/risk-areas/440304", headers=authority,
                      json={"level": "high", "note": "某小区"})
    assert set_.status_code == 200 and set_.json["name"] == "广东省深圳市福田区"
    assert client.put("/api/v1/authority/risk-areas/999999", headers=authority, json={"level": "high"}).status_code \
        == 422
    areas = client.get("/api/v1/authority/risk-areas", headers=authority).json["areas"]
    assert [(a["code"], a["level"]) for a in areas] == [("440304", "high")]


def sign(secret: str, body: bytes, at: int | None = None) -> dict:
    timestamp = str(at or int(time.time()))
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Feed-Id": "lab-1", "X-Timestamp": timestamp, "X-Signature": signature,
            "Content-Type": "application/x-ndjson"}


def test_a_signed_lab_batch_over_http(api, client, app, redis_server):
    secret = app.extensions["healthcode"].feeds.create("lab-1", "lab").secret
    me = api.login()
    person = api.apply(me)
    body = "\n".join([json.dumps({"id_number": ZHANG, "sampled_at": int(time.time()) - 3600, "result": "positive",
                                  "lab": "某检测机构"}), "oops"]).encode()
    headers = sign(secret, body)
    response = client.post("/api/v1/feeds/lab-results", data=body, headers=headers)
    assert response.status_code == 200 and response.json["accepted"] == 1
    assert [r["line"] for r in response.json["rejected"]] == [2]
    assert code_of(api, me, person)["color"] == "red"
    replay = client.post("/api/v1/feeds/lab-results", data=body, headers=headers)
    assert replay.status_code == 401 and replay.json["error"]["code"] == "bad_signature"
    trail = redis_server.llen("hc:{audit}:log")
    again = client.post("/api/v1/feeds/lab-results", data=body, headers=sign(secret, body, int(time.time()) + 1))
    assert again.status_code == 200 and redis_server.llen("hc:{audit}:log") == trail  # re-delivered: no change
    before = redis_server.dbsize()
    forged = client.post("/api/v1/feeds/lab-results", data=body, headers={**sign(secret, body), "X-Signature": "00"})
    assert forged.status_code == 401 and forged.json["error"]["code"] == "bad_signature"
    stale = client.post("/api/v1/feeds/lab-results", data=body, headers=sign(secret, body, int(time.time()) - 301))
    assert stale.status_code == 401
    assert redis_server.dbsize() == before


def test_the_dashboard_counts(api, client):
    me = api.login()
    person = api.apply(me)
    code_of(api, me, person)
    api.mark({"person_id": person["id"], "kind": "close_contact", "reason": "流调"})
    client.post("/api/v1/authority/markers", headers=api.staff("authority"),
                json={"id_number": id_number(seq=5), "kind": "confirmed", "reason": "x"})
    board = client.get("/api/v1/authority/dashboard", headers=api.staff("authority")).json
    assert board["colors"].get("red") == 1
    assert board["pending_approvals"]["count"] == 1 and board["pending_approvals"]["oldest_seconds"] >= 0
    assert sum(day.get("close_contact", 0) for day in board["reasons_by_day"].values()) == 1
