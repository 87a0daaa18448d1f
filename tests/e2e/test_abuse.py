"""Refused requests leave nothing behind in Redis; persons nobody links to are removed."""
import pytest

from app import create_app
from tests.conftest import NOTICE, SERVER_URL, Api
from tests.unit.fakes import id_number

SECRET = "test-secret-key-0123456789abcdef0123"


@pytest.fixture
def api(redis_server):
    """The app with roomy rate limits: these tests send more than a user would."""
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET,
                      "HEALTHCODE_RATE_LIMIT_SCALE": 100, "TESTING": True})
    return Api(app, app.test_client())


@pytest.fixture
def client(api):
    return api.client


def person_keys(redis_server) -> set[bytes]:
    """Keys of persons and their index entries (not sessions, limiter counters or signing keys)."""
    return {k for k in redis_server.keys("hc:*") if k.startswith((b"hc:p:", b"hc:id:"))}


def family(n: int) -> dict:
    return {"name": "李四", "id_number": id_number(born="20100101", sequence=f"{n:03d}"), "phone": "13800138000",
            "relation": "family", "consent_notice": NOTICE}


def test_applications_refused_by_the_family_limit_create_no_record_and_no_index_key(api, client, redis_server):
    me = api.login("alice")
    for n in range(5):
        assert client.post("/api/v1/persons", json=family(n), headers=me).status_code == 201
    before = person_keys(redis_server)
    for n in range(5, 25):
        response = client.post("/api/v1/persons", json=family(n), headers=me)
        assert response.status_code == 409 and response.json["error"]["code"] == "conflict"
    assert person_keys(redis_server) == before


def test_a_second_self_on_an_account_creates_no_record(api, client, redis_server):
    me = api.login("alice")
    api.apply(me)
    before = person_keys(redis_server)
    other = {"name": "王五", "id_number": id_number(sequence="007"), "phone": "13800138000", "relation": "self",
        "consent_notice": NOTICE}
    assert client.post("/api/v1/persons", json=other, headers=me).status_code == 409
    assert person_keys(redis_server) == before


def test_a_person_nobody_links_to_any_more_leaves_no_key(api, client, redis_server):
    son = api.login("son")
    grandma = client.post("/api/v1/persons", json=family(1), headers=son).json
    assert person_keys(redis_server)
    assert client.delete(f"/api/v1/persons/{grandma['id']}", headers=son).status_code == 204
    assert person_keys(redis_server) == set()


def test_a_checkpoint_rescanning_a_screen_adds_one_entry(api, client):
    me = api.login("alice")
    person = api.apply(me)
    qr = client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).json["qr"]
    gate = api.staff("checkpoint")
    for _ in range(10):
        assert client.post("/api/v1/scans", json={"qr": qr, "place_id": "东门"}, headers=gate).json["valid"]
    scans = client.get(f"/api/v1/persons/{person['id']}/history", headers=me).json["scans"]
    assert [s["place"] for s in scans] == ["东门"]
