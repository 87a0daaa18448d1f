"""Rate limits: each at its edge, 429 rate_limited with Retry-After, nothing written when refused."""
import pytest

from app import create_app
from tests.conftest import NOTICE, SERVER_URL, Api
from tests.unit.fakes import id_number

SECRET = "test-secret-key-0123456789abcdef0123"
ZHANG = "11010519491231002X"


def limited_app(redis_server, **limits):
    config = {"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True}
    config.update({f"HEALTHCODE_{name.upper()}": value for name, value in limits.items()})
    return create_app(config)


def from_ip(ip: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def assert_rate_limited(response) -> None:
    assert response.status_code == 429, response.json
    assert response.json["error"]["code"] == "rate_limited"
    assert response.json["error"]["message"] == "请求过于频繁，请稍后再试"
    assert 0 < int(response.headers["Retry-After"]) <= 3600


def login(client, code: str, ip: str = "10.0.0.1"):
    return client.post("/api/v1/sessions", json={"platform": "dev", "code": code}, **from_ip(ip))


def data_keys(redis_server) -> set[bytes]:
    """The store's keys, less the limiter's own counters and the signing key ring."""
    return {k for k in redis_server.keys("*") if not k.startswith((b"hc:rl", b"hc:{keys}"))}


def test_logins_per_ip_stop_at_the_limit_and_other_ips_go_on(redis_server):
    client = limited_app(redis_server, rate_login_ip="3/minute").test_client()
    for n in range(3):
        assert login(client, f"user{n}").status_code == 201
    before = data_keys(redis_server)
    assert_rate_limited(login(client, "user3"))
    assert data_keys(redis_server) == before  # no session made
    assert login(client, "user3", ip="10.0.0.2").status_code == 201


def test_logins_per_platform_stop_at_the_limit_whatever_the_ip(redis_server):
    client = limited_app(redis_server, rate_login_platform="2/minute").test_client()
    assert login(client, "a", "10.0.0.1").status_code == 201
    assert login(client, "b", "10.0.0.2").status_code == 201
    assert_rate_limited(login(client, "c", "10.0.0.3"))


def test_the_scale_multiplies_every_limit(redis_server):
    client = limited_app(redis_server, rate_login_ip="2/minute", rate_limit_scale=3).test_client()
    for n in range(6):
        assert login(client, f"user{n}").status_code == 201
    assert_rate_limited(login(client, "user6"))


def test_applications_per_account_stop_at_the_limit_and_leave_nothing(redis_server):
    app = limited_app(redis_server, rate_apply_account="2/hour")
    api = Api(app, app.test_client())
    me = api.login("alice")
    for n in range(2):
        body = {"name": "李四", "id_number": id_number(born="20100101", sequence=f"{n:03d}"), "phone": "13800138000",
                "relation": "family", "consent_notice": NOTICE}
        assert api.client.post("/api/v1/persons", json=body, headers=me).status_code == 201
    before = data_keys(redis_server)
    body = {"name": "王五", "id_number": ZHANG, "phone": "13800138000", "relation": "self", "consent_notice": NOTICE}
    assert_rate_limited(api.client.post("/api/v1/persons", json=body, headers=me))
    assert data_keys(redis_server) == before
    other = api.login("bob")
    assert api.client.post("/api/v1/persons", json=body, headers=other).status_code == 201


def test_answers_that_tell_whether_an_id_number_is_registered_are_counted_tightly(redis_server):
    app = limited_app(redis_server, rate_oracle_account="2/hour")
    api = Api(app, app.test_client())
    api.apply(api.login("owner"))  # 张三 / ZHANG, face-checked: ZHANG is someone's own code
    prober = api.login("prober")
    probe = {"name": "张三", "id_number": ZHANG, "phone": "13800138000", "relation": "self", "consent_notice": NOTICE}
    for _ in range(2):
        assert api.client.post("/api/v1/persons", json=probe, headers=prober).status_code == 409
    assert_rate_limited(api.client.post("/api/v1/persons", json=probe, headers=prober))


def test_answers_that_tell_whether_a_name_matches_are_counted_tightly(redis_server):
    app = limited_app(redis_server, rate_oracle_account="2/hour")
    api = Api(app, app.test_client())
    api.apply(api.login("owner"))
    guesser = api.login("guesser")
    for guess in ("张四", "张五"):
        body = {"name": guess, "id_number": ZHANG, "phone": "13800138000", "relation": "family",
            "consent_notice": NOTICE}
        assert api.client.post("/api/v1/persons", json=body, headers=guesser).status_code == 422
    body = {"name": "张三", "id_number": ZHANG, "phone": "13800138000", "relation": "family", "consent_notice": NOTICE}
    assert_rate_limited(api.client.post("/api/v1/persons", json=body, headers=guesser))


def test_other_refusals_do_not_count_as_oracle_answers(redis_server):
    app = limited_app(redis_server, rate_oracle_account="1/hour")
    api = Api(app, app.test_client())
    me = api.login("alice")
    bad = {"name": "张三", "id_number": "110105194912310020", "phone": "13800138000", "relation": "self",
        "consent_notice": NOTICE}
    for _ in range(3):  # a typo in one's own number says nothing about anyone
        assert api.client.post("/api/v1/persons", json=bad, headers=me).status_code == 422


def test_face_checks_per_account_stop_at_the_limit(redis_server):
    app = limited_app(redis_server, rate_verify_account="2/hour")
    api = Api(app, app.test_client())
    me = api.login("alice")
    person = api.apply(me, verify=False)
    url = f"/api/v1/persons/{person['id']}/verification"
    for _ in range(2):
        assert api.client.post(url, json={"ticket": "fail"}, headers=me).status_code == 403
    assert_rate_limited(api.client.post(url, json={"ticket": "dev-face-ok"}, headers=me))


def test_scans_per_credential_stop_at_the_limit(redis_server):
    app = limited_app(redis_server, rate_scan_credential="3/minute")
    api = Api(app, app.test_client())
    gate, other_gate = api.staff("checkpoint"), api.staff("checkpoint", "西门")
    for _ in range(3):
        assert api.client.post("/api/v1/scans", json={"qr": "CNHC1:x"}, headers=gate).status_code == 200
    assert_rate_limited(api.client.post("/api/v1/scans", json={"qr": "CNHC1:x"}, headers=gate))
    assert api.client.post("/api/v1/scans", json={"qr": "CNHC1:x"}, headers=other_gate).status_code == 200


def test_an_ip_that_keeps_failing_to_authenticate_is_stopped_even_with_a_good_token(redis_server):
    app = limited_app(redis_server, rate_bearer_failure_ip="3/minute")
    api = Api(app, app.test_client())
    me = api.login("alice")
    wrong = {"Authorization": "Bearer " + me["Authorization"].split()[1][:-2] + "xx"}
    for _ in range(3):
        assert api.client.get("/api/v1/persons", headers=wrong).status_code == 401
    assert_rate_limited(api.client.get("/api/v1/persons", headers=me))
    assert api.client.get("/api/v1/persons", headers=me, **from_ip("10.9.9.9")).status_code == 200


def test_successful_requests_do_not_count_as_bearer_failures(redis_server):
    app = limited_app(redis_server, rate_bearer_failure_ip="2/minute")
    api = Api(app, app.test_client())
    me = api.login("alice")
    for _ in range(5):
        assert api.client.get("/api/v1/persons", headers=me).status_code == 200


@pytest.mark.parametrize("value", ["lots", "0/minute", "5/fortnight", ""])
def test_a_limit_that_does_not_parse_is_refused_by_name(redis_server, value):
    with pytest.raises(RuntimeError, match="HEALTHCODE_RATE_LOGIN_IP"):
        limited_app(redis_server, rate_login_ip=value)
