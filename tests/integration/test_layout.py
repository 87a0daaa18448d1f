"""The global indexes' layout (adapters/store/layout.py): buckets, one layout for every process,
and `store migrate` from the earlier layout and between bit counts."""
import os
import random

import pytest

from adapters.store.keys import account_key, person_key
from adapters.store.layout import LAYOUT_KEY, IndexLayout, LayoutMismatch, bucket, unbucket
from app import create_app
from tests.conftest import SERVER_URL, Api
from tests.unit.fakes import id_number

SECRET = "test-secret-key-0123456789abcdef0123"


def make(bits: int = 16) -> Api:
    app = create_app({"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True,
                      "HEALTHCODE_INDEX_BITS": bits})
    return Api(app, app.test_client())


@pytest.mark.parametrize("bits", [8, 9, 11, 12, 16, 17, 20])
def test_a_hash_comes_back_from_its_bucket_and_buckets_spread(bits):
    rng = random.Random(bits)
    names = set()
    for _ in range(2000):
        h = rng.randbytes(16).hex()
        key, field = bucket("hc:id:", h, bits)
        assert unbucket(key, field) == h and key.startswith(f"hc:id:{bits}:{{")
        names.add(key)
    assert len(names) == min(2 ** bits, 2000) or len(names) > 0.6 * min(2 ** bits, 2000)
    assert max(int(k[k.index("{") + 1:-1], 16) for k in names) < 2 ** bits


def test_a_process_with_other_bits_is_refused(redis_server):
    make(16)
    with pytest.raises(RuntimeError, match="HEALTHCODE_INDEX_BITS=12"):
        make(12)
    late = IndexLayout(redis_server, 11)  # as when the store was down at start-up: at first use
    with pytest.raises(LayoutMismatch):
        late.id_entry("0" * 32)


def downgrade(r) -> None:
    """Rewrite the store as layout 1 wrote it (hex ids, a string key per ID number, hex phone
    buckets of comma-joined ids, links under hex ids with the relation spelt out)."""
    for key in list(r.scan_iter(match="hc:p:{*}")):
        if not key.endswith(b"}"):
            continue
        raw = r.hgetall(key)
        update = {f: raw[f].hex() for f in (b"ph", b"o") if f in raw}
        if b"ns" in raw:
            update[b"ns"] = {b"s": "self", b"f": "family", b"v": "verified"}[raw[b"ns"]]
        if b"a" in raw:
            update[b"a"] = ",".join(raw[b"a"][k:k + 12].hex() for k in range(0, len(raw[b"a"]), 12))
        r.hset(key, mapping=update)
    for key in list(r.scan_iter(match="hc:a:*")):
        links = r.hgetall(key)
        r.delete(key)
        for field, value in links.items():
            word = {b"s": b"self", b"f": b"family"}[value[:1]]
            r.hset(key, field.hex(), word + value[1:])
    for key in list(r.scan_iter(match="hc:id:*")):
        for field, pid in r.hgetall(key).items():
            r.set(f"hc:id:{{{unbucket(key, field)}}}", pid.hex())
        r.delete(key)
    for key in list(r.scan_iter(match="hc:ph:*")):
        for field, pids in r.hgetall(key).items():
            h = unbucket(key, field)
            ids = ",".join(pids[k:k + 12].hex() for k in range(0, len(pids), 12))
            r.hset(f"hc:ph:{{{h[:4]}}}", h[4:], ids)
        r.delete(key)
    r.delete(LAYOUT_KEY)


def test_migrate_from_layout_1_and_between_bits_keeps_every_person_link_and_index_entry(redis_server):
    api = make(16)
    me = api.login("alice")
    mine = api.apply(me)
    relative = api.apply(me, relation="family", name="李四", id_number=id_number(born="20100101", sequence="013"),
                         phone="13900139000")
    before = {p["id"]: api.client.get(f"/api/v1/persons/{p['id']}/health-code", headers=me).json["color"]
              for p in (mine, relative)}
    snapshot = {k: redis_server.hgetall(k) for k in (person_key(mine["id"]), account_key(
        api.app.extensions["healthcode"].sessions.authenticate(me["Authorization"][7:]).account_id))}
    downgrade(redis_server)
    assert not list(redis_server.scan_iter(match="hc:id:16:*"))

    for bits in (12, 9):
        result = api.app.test_cli_runner().invoke(args=["store", "migrate", "--yes", "--index-bits", str(bits)])
        assert result.exit_code == 0, result.output
        assert redis_server.hgetall(LAYOUT_KEY) == {b"version": b"2", b"index_bits": str(bits).encode()}
        assert {k.split(b":")[2] for k in redis_server.scan_iter(match="hc:id:*")} == {str(bits).encode()}
        assert {k.split(b":")[2] for k in redis_server.scan_iter(match="hc:ph:*")} == {str(bits).encode()}
        after = make(bits)
        for person in (mine, relative):
            got = after.client.get(f"/api/v1/persons/{person['id']}/health-code", headers=me)
            assert got.status_code == 200 and got.json["color"] == before[person["id"]]
        for key, fields in snapshot.items():  # as they were before layout 1 (the person's colour may move on)
            now = redis_server.hgetall(key)
            assert {f: now.get(f) for f in fields if f not in (b"c", b"q")} == \
                {f: v for f, v in fields.items() if f not in (b"c", b"q")}
        # The ID-number index: the same number is the same person for another account.
        again = after.apply(after.login(f"bob-{bits}"), relation="family", name="张三",
                            id_number="11010519491231002X", verify=False)
        assert again["id"] == mine["id"]
        snapshot = {k: redis_server.hgetall(k) for k in snapshot}
    again = api.app.test_cli_runner().invoke(args=["store", "migrate", "--yes", "--index-bits", "9"])
    assert "persons rewritten: 0" in again.output and "accounts rewritten: 0" in again.output
    assert "old index keys deleted: 0" in again.output


def test_the_phone_index_reaches_the_person_after_a_migration(redis_server):
    api = make(16)
    me = api.login()
    mine = api.apply(me)  # phone 13800138000
    downgrade(redis_server)
    assert api.app.test_cli_runner().invoke(args=["store", "migrate", "--yes", "--index-bits", "10"]).exit_code == 0
    after = make(10)
    vault = after.app.extensions["healthcode"].travel
    phone_hash = vault.phone_hash("+8613800138000")
    key, field = IndexLayout(redis_server, 10).phone_entry(phone_hash)
    assert redis_server.hget(key, field) == bytes.fromhex(mine["id"])


@pytest.mark.skipif(os.environ.get("HEALTHCODE_TEST_REDIS_MODE") == "cluster", reason="one node's keys")
def test_a_fresh_store_records_the_layout_of_its_first_process(redis_server):
    make(11)
    assert redis_server.hgetall(LAYOUT_KEY) == {b"version": b"2", b"index_bits": b"11"}
