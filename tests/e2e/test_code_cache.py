"""The code cache over HTTP on Redis: the same answer again with its Age, a new one after any
change it was built from (marker, lab result, stay + risk area, policy), none when switched off,
and nothing of it in the AOF."""
import json
import time
from pathlib import Path

import pytest

from app import create_app
from tests.conftest import SERVER_URL, Api

SECRET = "test-secret-key-0123456789abcdef0123"
POLICY = Path(__file__).resolve().parents[2] / "policies" / "health-code-policy.json"
ZHANG = "11010519491231002X"


def make_api(**config):
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      **config})
    return Api(app, app.test_client())


@pytest.fixture
def api(redis_server):
    return make_api()


def stay_in_tianhe(api) -> None:
    """An operator's feed row: Zhang San's phone stayed in 天河区 (440106) until an hour ago."""
    services, now = api.app.extensions["healthcode"], int(time.time())
    services.travel.ingest(services.feeds.create("op-1", "operator"), json.dumps(
        {"phone": "13800138000", "city_code": "440106", "from": now - 7 * 3600, "to": now - 3600}).encode())


def read(api, me, person, **query):
    response = api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me, query_string=query)
    assert response.status_code == 200, response.json
    return response


def test_a_read_again_gets_the_same_answer_with_its_age(api, redis_server):
    me = api.login()
    person = api.apply(me)
    once = read(api, me, person)
    assert not redis_server.exists(f"hc:p:{{{person['id']}}}:cc")  # a one-off read stores nothing
    first = read(api, me, person)
    assert first.headers["Age"] == "0" and first.json["qr"] != once.json["qr"]
    time.sleep(1.1)
    again = read(api, me, person)
    assert again.get_data() == first.get_data()
    assert int(again.headers["Age"]) >= 1 and again.headers["Cache-Control"] == first.headers["Cache-Control"]
    ttl = redis_server.ttl(f"hc:p:{{{person['id']}}}:cc")
    assert 0 < ttl <= 30  # half the code's 60 s
    assert read(api, me, person, lang="en").get_data() != first.get_data()


def read_kept(api, me, person, **query):
    """Read twice: the second answer is the one kept (core/code_cache.py: from the second read)."""
    read(api, me, person, **query)
    return read(api, me, person, **query)


def test_a_marker_a_lab_result_a_stay_and_a_policy_each_make_a_new_code(api, redis_server):
    me = api.login()
    person = api.apply(me)
    services = api.app.extensions["healthcode"]
    qrs = [read_kept(api, me, person).json["qr"]]
    assert read(api, me, person).json["qr"] == qrs[-1]

    services.marking.add_lab_result(ZHANG, int(time.time()) - 60, "negative", "某检测机构")
    qrs.append(read(api, me, person).json["qr"])
    assert qrs[-1] != qrs[-2]

    stay_in_tianhe(api)
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["color"] == "green"
    qrs.append(answer["qr"])
    api.client.put("/api/v1/authority/risk-areas/440106", headers=api.staff("authority"),
                   json={"level": "medium", "note": "某街道"})
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["color"] == "yellow"
    qrs.append(answer["qr"])

    doc = {**json.loads(POLICY.read_text(encoding="utf-8")), "version": "2099-01-01.1"}
    services.policy_admin.publish(doc, "operator", "新方案")
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["policy_version"] == "2099-01-01.1"
    qrs.append(answer["qr"])

    api.mark({"id_number": ZHANG, "kind": "close_contact", "reason": "流调"})
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["color"] == "red"


def test_switched_off_every_read_signs_and_nothing_is_kept(redis_server):
    api = make_api(HEALTHCODE_CODE_CACHE="0")
    me = api.login()
    person = api.apply(me)
    assert read(api, me, person).json["qr"] != read(api, me, person).json["qr"]
    assert not redis_server.exists(f"hc:p:{{{person['id']}}}:cc")


def test_erasure_takes_the_kept_answers(api, redis_server):
    me = api.login()
    person = api.apply(me)
    read_kept(api, me, person)
    assert redis_server.exists(f"hc:p:{{{person['id']}}}:cc")
    assert api.client.delete(f"/api/v1/persons/{person['id']}", headers=me).status_code == 204
    assert not redis_server.exists(f"hc:p:{{{person['id']}}}:cc")


def reuse_until(redis_server, person, slot_prefix: str) -> int:
    """The reuse_until of the answer kept in the slot starting with `slot_prefix` (the account)."""
    entries = redis_server.hgetall(f"hc:p:{{{person['id']}}}:cc")
    (entry,) = [v for k, v in entries.items() if k.startswith(slot_prefix.encode())]
    return int(entry.split(b"|")[3])  # "generation:policy|risk|key:link|reuse_until|..."


def test_another_process_reuses_it_and_a_read_that_finds_it_stale_signs_again(api, redis_server):
    me = api.login()
    person = api.apply(me)
    first = read_kept(api, me, person)
    other = make_api()  # another worker: it has kept nothing yet, and reads the facts with the answer
    assert read(other, me, person).get_data() == first.get_data()
    assert read(other, me, person).get_data() == first.get_data()  # and now its lean round trip
    api.mark({"id_number": ZHANG, "kind": "close_contact", "reason": "流调"})
    for worker in (other, api):  # both expected to find it, both find it stale
        answer = read(worker, me, person).json
        assert answer["color"] == "red" and answer["qr"] != first.json["qr"]


def test_an_answer_built_from_visits_is_not_reused_past_their_expiry(api, redis_server):
    me = api.login()
    person = api.apply(me)
    now = int(time.time())
    stay_in_tianhe(api)
    account = me["Authorization"].removeprefix("Bearer ").partition(".")[0][:16]
    read_kept(api, me, person)
    assert reuse_until(redis_server, person, account) >= now + 29  # half the code's 60 s
    redis_server.expire(f"hc:p:{{{person['id']}}}:trip", 10)  # as if the latest stay were a window ago
    read_kept(api, me, person, lang="en")  # another slot: built now, from visits that go in 10 s
    assert reuse_until(redis_server, person, account + "|en") <= int(time.time()) + 10


def test_deleting_the_trip_data_makes_the_next_read_sign_anew(api, redis_server):
    me = api.login()
    person = api.apply(me)
    services = api.app.extensions["healthcode"]
    stay_in_tianhe(api)
    api.client.put("/api/v1/authority/risk-areas/440106", headers=api.staff("authority"),
                   json={"level": "medium", "note": "某街道"})
    kept = read_kept(api, me, person).json
    assert kept["color"] == "yellow" and read(api, me, person).json["qr"] == kept["qr"]
    assert services.travel.retire_data()["visits"] == 1  # the card's end (2022-12-13): its data goes
    answer = read(api, me, person).json
    assert answer["color"] == "green" and answer["qr"] != kept["qr"]
