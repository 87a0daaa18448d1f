"""The code cache over HTTP on Redis: the same answer again with its Age, a new one after any
change it was built from (marker, lab result, stay + risk area, policy), none when switched off,
and nothing of it in the AOF."""
import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from adapters.store import reads as reads_module
from app import create_app
from tests.conftest import CLUSTER, SERVER_URL, Api
from tests.ids import id_number

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
    other = make_api()  # another worker: it has kept nothing yet
    # Its first read of the person looks for nothing (most reads are one-offs) and signs...
    assert read(other, me, person).json["qr"] != first.json["qr"]
    # ...its second reads the facts with the answer the first worker kept, and reuses it,
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


# -- the refresh kept in the worker thread (adapters/store/near.py) ------------------------------

def near(api):
    return api.app.extensions["healthcode"].codes._reads.near


needs_near = pytest.mark.skipif(CLUSTER, reason="the near cache is off a cluster (one connection per thread)")


def read_near(api, me, person, **query):
    """Read until the answer comes from the thread's near cache (the kept answer's lean read
    fills it, the next read is served from it after a PING), and check that it did."""
    hits = near(api).hits
    kept = read_kept(api, me, person, **query)
    for _ in range(2):
        again = read(api, me, person, **query)
        assert again.get_data() == kept.get_data()
    assert near(api).hits > hits
    return kept


@needs_near
def test_a_refresh_served_in_the_thread_signs_anew_after_each_change(api, redis_server):
    me = api.login()
    person = api.apply(me)
    services = api.app.extensions["healthcode"]
    qrs = [read_near(api, me, person).json["qr"]]

    services.marking.add_lab_result(ZHANG, int(time.time()) - 60, "negative", "某检测机构")
    qrs.append(read(api, me, person).json["qr"])
    assert qrs[-1] != qrs[-2]
    assert read_near(api, me, person).json["qr"] == qrs[-1]

    stay_in_tianhe(api)
    assert read(api, me, person).json["qr"] != qrs[-1]
    qrs.append(read_near(api, me, person).json["qr"])
    api.client.put("/api/v1/authority/risk-areas/440106", headers=api.staff("authority"),
                   json={"level": "medium", "note": "某街道"})
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["color"] == "yellow"
    qrs.append(read_near(api, me, person).json["qr"])

    doc = {**json.loads(POLICY.read_text(encoding="utf-8")), "version": "2099-01-01.1"}
    services.policy_admin.publish(doc, "operator", "新方案")
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["policy_version"] == "2099-01-01.1"
    qrs.append(read_near(api, me, person).json["qr"])

    api.mark({"id_number": ZHANG, "kind": "close_contact", "reason": "流调"})
    answer = read(api, me, person).json
    assert answer["qr"] != qrs[-1] and answer["color"] == "red"
    read_near(api, me, person)

    assert api.client.delete("/api/v1/sessions/current", headers=me).status_code == 204
    assert api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).status_code == 401


@needs_near
def test_a_refresh_in_the_thread_is_not_served_past_its_session(api, redis_server):
    me = api.login()
    person = api.apply(me)
    token = me["Authorization"].removeprefix("Bearer ")
    redis_server.pexpire(f"hc:s:{hashlib.sha256(token.encode()).hexdigest()}", 1500)
    read_near(api, me, person)  # kept with the session's time left
    (kept,) = near(api)._local.t.entries.values()
    assert kept[2] <= time.time() + 1.5  # until when: not after the session's key expires
    time.sleep(1.6)  # (Redis's own expiry may take longer to remove the key and say so)
    assert api.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me).status_code == 401


@needs_near
def test_a_person_taken_off_the_account_is_not_served_from_the_thread(api, redis_server):
    me = api.login()
    person = api.apply(me)
    other = api.apply(me, relation="family", name="张小明", id_number=id_number("20100101", 16))
    read_near(api, me, person)
    read_near(api, me, other)
    assert api.client.delete(f"/api/v1/persons/{other['id']}", headers=me).status_code == 204
    assert api.client.get(f"/api/v1/persons/{other['id']}/health-code", headers=me).status_code == 404
    assert read(api, me, person).json["color"] == "green"


@needs_near
def test_a_refresh_another_thread_kept_is_not_this_threads(api, redis_server):
    me = api.login()
    person = api.apply(me)
    first = read_near(api, me, person)
    api.mark({"id_number": ZHANG, "kind": "close_contact", "reason": "流调"})
    got = []
    thread = threading.Thread(target=lambda: got.append(read(api, me, person).json))
    thread.start()
    thread.join(10)
    assert got[0]["color"] == "red" and got[0]["qr"] != first.json["qr"]
    assert read(api, me, person).json["qr"] != first.json["qr"]  # and this thread's kept one went


def test_near_cache_switched_off_the_kept_answer_is_still_reused(redis_server):
    api = make_api(HEALTHCODE_NEAR_CACHE="0")
    assert near(api) is None
    me = api.login()
    person = api.apply(me)
    kept = read_kept(api, me, person)
    assert read(api, me, person).get_data() == kept.get_data()


@pytest.mark.skipif(not CLUSTER, reason="a cluster's")
def test_on_a_cluster_there_is_no_near_cache(api):
    assert near(api) is None


def test_a_first_read_in_a_process_looks_for_nothing_but_reads_the_versions(api, redis_server, monkeypatch):
    me = api.login()
    person = api.apply(me)
    assert read(api, me, person).json["policy_version"] != "2099-01-01.1"  # the process holds the policy
    other = make_api()  # another worker publishes a policy; this one has not reloaded its own yet
    doc = {**json.loads(POLICY.read_text(encoding="utf-8")), "version": "2099-01-01.1"}
    other.app.extensions["healthcode"].policy_admin.publish(doc, "operator", "新方案")
    someone = api.apply(me, relation="family", name="张小明", id_number=id_number("20100101", 16))
    sent = []
    original = reads_module.scripts.read_round_trip

    def recording(client, commands, loaded):
        sent.append(commands)
        return original(client, commands, loaded)

    monkeypatch.setattr(reads_module.scripts, "read_round_trip", recording)
    answer = read(api, me, someone).json
    assert answer["policy_version"] == "2099-01-01.1"  # the versions read in its own round trip
    answers_key = f"hc:p:{{{someone['id']}}}:cc"
    assert not [c for batch in sent for c in batch if answers_key in c or c[0] == "PTTL"]  # nothing looked up
    sent.clear()
    read(api, me, someone)  # the second read here looks
    assert [c for batch in sent for c in batch if answers_key in c]
