"""The health-code read answered before Flask (blueprints/hot.py) says exactly what the Flask
view says: status, headers, body, metrics; and hands every other case to Flask."""
import datetime as dt
import hashlib
import hmac
import json
import time

import pytest

from app import create_app
from blueprints.metrics import REQUESTS, flush_tallies
from tests.conftest import SERVER_URL, Api
from tests.unit.fakes import id_number

SECRET = "test-secret-key-0123456789abcdef0123"
VOLATILE = {"qr", "qr_image", "issued_at", "expires_at"}  # a new code each time it is signed


def make(fast: bool) -> Api:
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_FAST_PATHS": fast, "HEALTHCODE_CODE_CACHE": False})
    return Api(app, app.test_client())


@pytest.fixture
def pair(redis_server):
    fast, slow = make(True), make(False)
    me = fast.login()
    person = fast.apply(me)
    return fast, slow, me, person


def same(a, b) -> None:
    assert a.status_code == b.status_code
    assert sorted((k, v) for k, v in a.headers.items() if k not in ("Content-Length", "Age")) == \
        sorted((k, v) for k, v in b.headers.items() if k not in ("Content-Length", "Age"))
    left, right = json.loads(a.get_data()), json.loads(b.get_data())
    if a.status_code == 200:
        assert set(left) == set(right) and "Age" in a.headers and "Age" in b.headers
        left, right = ({k: v for k, v in d.items() if k not in VOLATILE} for d in (left, right))
    assert left == right


@pytest.mark.parametrize("query", ["", "?lang=en", "?image=svg", "?lang=en&image=svg", "?image=svg&lang=zh"])
def test_the_answer_is_the_flask_views(pair, query):
    fast, slow, me, person = pair
    path = f"/api/v1/persons/{person['id']}/health-code{query}"
    fast.mark({"id_number": "11010519491231002X", "kind": "secondary_contact", "reason": "流调"})
    same(fast.client.get(path, headers=me), slow.client.get(path, headers=me))


@pytest.mark.parametrize("case", ["bad token", "no token", "other person", "unknown query", "bad lang",
                                  "not verified", "post"])
def test_everything_else_is_flasks_answer(pair, case):
    fast, slow, me, person = pair
    path, headers, method = f"/api/v1/persons/{person['id']}/health-code", me, "get"
    if case == "bad token":
        headers = {"Authorization": me["Authorization"][:-3] + "xyz"}
    elif case == "no token":
        headers = {}
    elif case == "other person":
        path = "/api/v1/persons/" + "0" * 24 + "/health-code"
    elif case == "unknown query":
        path += "?lang=zh&x=1"
    elif case == "bad lang":
        path += "?lang=fr"
    elif case == "not verified":
        other = fast.login("bob")
        relative = fast.apply(other, relation="family", verify=False, name="李四",
                              id_number=id_number(born="20100101", sequence="013"))
        path, headers = f"/api/v1/persons/{relative['id']}/health-code", other
    elif case == "post":
        method = "post"
    answers = [getattr(api.client, method)(path, headers=headers) for api in (fast, slow)]
    assert answers[0].status_code >= 400 or case == "unknown query"  # Flask ignores unknown query fields
    same(*answers)


def test_the_read_is_counted_as_the_views(pair):
    fast, _, me, person = pair
    counter = REQUESTS.labels("citizen.health_code", "GET", "200")
    flush_tallies()  # what the tests before noted
    before = counter._value.get()
    assert fast.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).status_code == 200
    flush_tallies()  # as every /metrics scrape does (and a thread within the second)
    assert counter._value.get() == before + 1


def scan_pair(redis_server):
    fast, slow = make(True), make(False)
    me = fast.login()
    person = fast.apply(me)
    gate = fast.staff("checkpoint", "东门")
    qr = fast.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    return fast, slow, gate, qr


@pytest.mark.parametrize("body", [{"place": "gate-{n}"}, {}, {"qr": "CNHC1:nonsense"}])
def test_a_scan_is_answered_as_the_flask_view_does(redis_server, body):
    fast, slow, gate, qr = scan_pair(redis_server)
    answers = []
    for n, api in enumerate((fast, slow)):
        doc = {"qr": body.get("qr", qr)}
        if "place" in body:
            doc["place_id"] = body["place"].format(n=n)
        answers.append(api.client.post("/api/v1/scans", json=doc, headers=gate))
    left, right = (json.loads(a.get_data()) for a in answers)
    assert answers[0].status_code == answers[1].status_code == 200
    assert sorted(answers[0].headers.items()) == sorted(answers[1].headers.items())
    assert {k: v for k, v in left.items() if k != "checked_at"} == {k: v for k, v in right.items() if k != "checked_at"}


@pytest.mark.parametrize("case", ["bad token", "wrong role", "unknown field", "no qr", "not json", "bad place"])
def test_a_scan_the_fast_path_does_not_take_is_flasks(redis_server, case):
    fast, slow, gate, qr = scan_pair(redis_server)
    doc, headers, data = {"qr": qr}, gate, None
    if case == "bad token":
        headers = {"Authorization": "Bearer nope"}
    elif case == "wrong role":
        headers = fast.staff("authority")
    elif case == "unknown field":
        doc["x"] = 1
    elif case == "no qr":
        doc = {}
    elif case == "not json":
        data = "{qr"
    elif case == "bad place":
        doc["place_id"] = "东门\u202e"
    answers = [api.client.post("/api/v1/scans", headers={**headers, "Content-Type": "application/json"},
                               data=data if data is not None else json.dumps(doc)) for api in (fast, slow)]
    assert answers[0].status_code >= 400
    same(*answers)


def test_the_scan_limit_counts_on_both_paths(redis_server):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SCAN_CREDENTIAL": "3/minute"})
    api = Api(app, app.test_client())
    gate = api.staff("checkpoint")
    for _ in range(3):
        assert api.client.post("/api/v1/scans", json={"qr": "CNHC1:x", "place_id": "p"}, headers=gate
                               ).status_code == 200
    refused = api.client.post("/api/v1/scans", json={"qr": "CNHC1:x"}, headers=gate)
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"


def card_pair(redis_server):
    fast, slow = make(True), make(False)
    phone = "13800138000"
    fast.client.post("/api/v1/travel/sms", json={"phone": phone})
    code = fast.app.extensions["healthcode"].travel._sms.sent[-1][1]
    token = fast.client.post("/api/v1/travel/sessions", json={"phone": phone, "sms_code": code}).json["token"]
    return fast, slow, {"Authorization": "Bearer " + token}


@pytest.mark.parametrize("case", ["zh", "?lang=en", "?lang=zh", "accept en", "with stays"])
def test_the_card_is_the_flask_views(redis_server, case):
    fast, slow, me = card_pair(redis_server)
    path, headers = "/api/v1/travel/card", dict(me)
    if case.startswith("?"):
        path += case
    elif case == "accept en":
        headers["Accept-Language"] = "en-GB,en;q=0.8"
    elif case == "with stays":
        services = fast.app.extensions["healthcode"]
        feed = services.feeds.create("op-1", "operator")
        now = int(time.time())
        body = json.dumps([{"phone": "13800138000", "city_code": "440304", "from": now - 5 * 3600,
                            "to": now - 3600}]).encode()
        stamp = str(now)
        signature = hmac.new(feed.secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert fast.client.post("/api/v1/feeds/stays", data=body, headers={
            "X-Feed-Id": "op-1", "X-Timestamp": stamp, "X-Signature": signature,
            "Content-Type": "application/json"}).status_code == 200
    answers = [api.client.get(path, headers=headers) for api in (fast, slow)]
    assert answers[0].status_code == 200
    assert sorted(answers[0].headers.items()) == sorted(answers[1].headers.items())
    left, right = (json.loads(a.get_data()) for a in answers)
    # The time of each answer: the second may turn between the two requests.
    stamps = [dt.datetime.fromisoformat(doc.pop("updated_at")) for doc in (left, right)]
    assert abs((stamps[1] - stamps[0]).total_seconds()) <= 2
    assert left == right
    assert (left["cities"] != []) == (case == "with stays")


@pytest.mark.parametrize("case", ["bad token", "no token", "other phone's hash", "unknown query"])
def test_a_card_the_fast_path_does_not_take_is_flasks(redis_server, case):
    fast, slow, me = card_pair(redis_server)
    path, headers = "/api/v1/travel/card", me
    token = me["Authorization"].removeprefix("Bearer ")
    if case == "bad token":
        headers = {"Authorization": "Bearer " + token[:-3] + "xyz"}
    elif case == "no token":
        headers = {}
    elif case == "other phone's hash":
        headers = {"Authorization": "Bearer " + "0" * 32 + token[32:]}
    elif case == "unknown query":
        path += "?lang=fr"
    answers = [api.client.get(path, headers=headers) for api in (fast, slow)]
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].status_code == (200 if case == "unknown query" else 401)
    left, right = (json.loads(a.get_data()) for a in answers)
    assert set(left) == set(right)
    if "updated_at" in left:  # the time of each answer: the second may turn between the two requests
        stamps = [dt.datetime.fromisoformat(doc.pop("updated_at")) for doc in (left, right)]
        assert abs((stamps[1] - stamps[0]).total_seconds()) <= 2
    assert left == right


def test_a_card_is_counted_as_the_views(redis_server):
    fast, _, me = card_pair(redis_server)
    counter = REQUESTS.labels("travel.card", "GET", "200")
    flush_tallies()
    before = counter._value.get()
    assert fast.client.get("/api/v1/travel/card", headers=me).status_code == 200
    flush_tallies()
    assert counter._value.get() == before + 1


@pytest.mark.parametrize("batched", [True, False])
def test_the_scan_limits_count_as_the_library_counts_them(redis_server, monkeypatch, batched):
    from limits import parse

    from blueprints.limits import ScanLimit

    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_RATE_SCAN_CREDENTIAL": "3/minute;5/day"})
    api = Api(app, app.test_client())
    scan_limit = app.extensions["healthcode.scan_limit"]
    monkeypatch.setattr(scan_limit, "batched", batched)  # else each in turn, as strategy.hit
    gate = api.staff("checkpoint")
    credential = app.extensions["healthcode"].credentials.authenticate(gate["Authorization"][7:], "checkpoint")
    statuses = [api.client.post("/api/v1/scans", json={"qr": "CNHC1:x", "place_id": "p"}, headers=gate).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    stats = [scan_limit._strategy.get_window_stats(parse(limit), credential.id, ScanLimit.SCOPE)[1]
             for limit in ("3/minute", "5/day")]
    assert stats[0] == 0 and stats[1] == (1 if batched else 2)  # batched: the refused scan counts for the day


@pytest.mark.parametrize("fast", [True, False])
def test_valid_scans_stop_at_the_limit_and_a_refused_one_is_not_recorded(redis_server, fast):
    # Off a cluster a valid code's scan is counted in the script that records it (one round
    # trip): the same counters, the same answers, and a refused scan leaves no trace in the
    # person's history.
    from limits import parse

    from adapters.store.scripts import is_cluster
    from blueprints.limits import ScanLimit

    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_FAST_PATHS": fast, "HEALTHCODE_RATE_SCAN_CREDENTIAL": "3/minute;5/day"})
    api = Api(app, app.test_client())
    services = app.extensions["healthcode"]
    assert services.codes.admits is not is_cluster(app.extensions["healthcode.runtime"].store.client)
    me = api.login()
    person = api.apply(me)
    qr = api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    gate = api.staff("checkpoint", "东门")
    answers = [api.client.post("/api/v1/scans", json={"qr": qr, "place_id": f"gate-{n}"}, headers=gate)
               for n in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert all(a.json["valid"] for a in answers[:3])
    assert answers[3].json["error"]["code"] == "rate_limited" and int(answers[3].headers["Retry-After"]) >= 1
    scans = api.client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["scans"]
    assert sorted(s["place"] for s in scans) == ["gate-0", "gate-1", "gate-2"]
    credential = services.credentials.authenticate(gate["Authorization"][7:], "checkpoint")
    scan_limit = app.extensions["healthcode.scan_limit"]
    left = [scan_limit._strategy.get_window_stats(parse(limit), credential.id, ScanLimit.SCOPE)[1]
            for limit in ("3/minute", "5/day")]
    assert left == [0, 1]  # the refused scan counted for the day, as the limiter's own round trip counts it
    # A forged code is counted too (after its check: it never reaches the write), and refused.
    forged = api.client.post("/api/v1/scans", json={"qr": "CNHC1:x", "place_id": "p"}, headers=gate)
    assert forged.status_code == 429


@pytest.mark.standalone  # its own redis-server, with an AOF
def test_the_scan_limit_counters_stay_out_of_the_aof(tmp_path):
    # With appendfsync always, counters that reached the AOF cost every scan a second fsync:
    # the scan limit's counts live in memory only (blueprints/limits.py, NOT_PROPAGATED).
    import socket
    import subprocess

    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "yes", "--appendfsync", "always", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    try:
        store = redis.Redis(port=port)
        for _ in range(100):
            try:
                store.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        app = create_app({"HEALTHCODE_REDIS_URL": f"redis://127.0.0.1:{port}/0", "HEALTHCODE_SECRET_KEY": SECRET,
                          "TESTING": True})
        api = Api(app, app.test_client())
        gate = api.staff("checkpoint")
        answer = api.client.post("/api/v1/scans", json={"qr": "CNHC1:x", "place_id": "东门"}, headers=gate)
        assert answer.status_code == 200 and answer.get_json()["valid"] is False
        counters = [k for k in store.keys("hc:rl*") if b"checkpoint.scan" in k]
        assert len(counters) == 2  # the two limits' current windows, in memory
        me = api.login()
        person = api.apply(me)
        qr = api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
        # A valid code: counted in the script that records the scan (one round trip), whose
        # scan write is replicated and its counting not.
        answer = api.client.post("/api/v1/scans", json={"qr": qr, "place_id": "gate-aof-1"}, headers=gate)
        assert answer.status_code == 200 and answer.get_json()["valid"] is True
        assert int(store.get(next(k for k in store.keys("hc:rl*") if b"checkpoint.scan" in k))) == 2
        aof = b"".join(p.read_bytes() for p in tmp_path.rglob("*.aof"))
        assert b"hc:cred" in aof  # the credential: a durable write
        assert b"gate-aof-1" in aof  # the scan: durable
        assert b"checkpoint.scan" not in aof
    finally:
        server.terminate()
        server.wait(10)


def test_the_kept_admissions_are_bounded_and_forgotten_at_once(redis_server, monkeypatch):
    # MAX_ADMISSIONS devices' windows are kept; the next one clears them, and each device's
    # Admission made again is the one it had (its keys are not of a time).
    from blueprints.limits import ScanLimit

    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True})
    scan_limit = app.extensions["healthcode.scan_limit"]
    monkeypatch.setattr(ScanLimit, "MAX_ADMISSIONS", 3)
    first = [scan_limit.admission(f"cred-{i}") for i in range(3)]
    if first[0] is None:
        pytest.skip("this store cannot count an admission with the scan (a cluster)")
    assert len(scan_limit._admissions) == 3 and scan_limit.admission("cred-0") is first[0]
    fourth = scan_limit.admission("cred-3")
    assert list(scan_limit._admissions) == ["cred-3"]  # the fourth device cleared the three
    assert scan_limit.admission("cred-0") == first[0] and scan_limit.admission("cred-3") is fourth
    assert {w.current_key for w in first[0].windows} != {w.current_key for w in fourth.windows}
