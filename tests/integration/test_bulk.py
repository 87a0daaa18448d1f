"""The bulk loader (adapters/store/bulk.py) leaves what applying and the face check leave."""
import secrets

import pytest

from adapters.store.bulk import BulkPerson, BulkPersons
from adapters.store.keys import account_key, person_key
from adapters.store.layout import IndexLayout, raw_id
from tests.conftest import NOTICE, Api
from tests.unit.fakes import id_number


def bulk_person(services, account_id: str, number: str, name: str, phone: str, now: int) -> BulkPerson:
    directory = services.persons._directory
    pid = secrets.token_hex(12)
    return BulkPerson(pid, directory.vault.lookup_hash(number), directory.seal(pid, number, "id"),
                      directory.seal(pid, name, "name"), directory.seal(pid, phone, "phone"),
                      directory.phone_hash(phone), account_id, now, NOTICE)


def account(api: Api, headers: dict) -> str:
    return api.app.extensions["healthcode"].sessions.authenticate(headers["Authorization"][7:]).account_id


def test_a_bulk_person_is_what_the_api_makes(app, client, redis_server):
    api = Api(app, client)
    services = app.extensions["healthcode"]
    alice, bob = api.login("alice"), api.login("bob")
    made = api.apply(alice)  # 张三, 11010519491231002X, 13800138000
    number = id_number(born="19800101", sequence="021")
    loaded = bulk_person(services, account(api, bob), number, "李四", "+8613900139000", 1_796_000_000)
    BulkPersons(redis_server, IndexLayout(redis_server)).load([loaded])

    ours, theirs = redis_server.hgetall(person_key(loaded.person_id)), redis_server.hgetall(person_key(made["id"]))
    assert set(ours) == set(theirs) - {b"c", b"q"}  # the colour and the scan counter come with reads
    assert ours[b"ns"] == theirs[b"ns"] == b"v"  # verified
    assert ours[b"o"] == ours[b"a"] == raw_id(account(api, bob))
    ours = redis_server.hget(account_key(account(api, bob)), raw_id(loaded.person_id)).split(b"|")
    theirs = redis_server.hget(account_key(account(api, alice)), raw_id(made["id"])).split(b"|")
    assert ours[:2] + ours[3:] == theirs[:2] + theirs[3:]  # relation, verified, notice: all but the time
    code = client.get(f"/api/v1/persons/{loaded.person_id}/health-code", headers=bob)
    assert code.status_code == 200 and code.json["color"] == "green" and code.json["person"]["name_masked"] == "李*"
    assert code.json["person"]["phone_masked"] == "139****9000" and code.json["person"]["verified"] is True
    # The indexes: the same ID number is the same person; the phone finds them.
    again = api.apply(api.login("carol"), relation="family", name="李四", id_number=number, verify=False)
    assert again["id"] == loaded.person_id
    key, field = IndexLayout(redis_server).phone_entry(loaded.phone_hash)
    assert redis_server.hget(key, field) == raw_id(loaded.person_id)


def test_an_id_number_someone_has_is_refused(app, client, redis_server):
    api = Api(app, client)
    services = app.extensions["healthcode"]
    api.apply(api.login("alice"))
    taken = bulk_person(services, "ab" * 12, "11010519491231002X", "张三", "+8613800138000", 1_796_000_000)
    with pytest.raises(ValueError, match="person 0"):
        BulkPersons(redis_server, IndexLayout(redis_server)).load([taken])
