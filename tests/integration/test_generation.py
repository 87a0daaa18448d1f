"""The person's generation (adapters/store/lua/generation.lua): every write to what a health-code
answer is built from moves it, in the same script, or a reused answer could show a stale colour.

Two ways round: each write of the stores, run on a person, changes the facts and the generation
together; and no script or Python module writes a facts key without moving it (a new write path
that forgets fails here, not in production)."""
import re
import time
from pathlib import Path

import pytest

from adapters.store import redis_stores
from adapters.store.keys import labs_key, markers_key, person_key, visits_key
from adapters.store.travel import RedisStays
from core.model import NO_VISITS, LabOutcome, LabResult, Marker, MarkerStatus, NameSource, PersonRecord, Visits

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "adapters" / "store" / "lua"
PID = "a" * 24
ACCT1, ACCT2 = "a1" * 12, "a2" * 12
PH1, PH2 = "e1" * 16, "e2" * 16
NOT_FACTS = {b"g", b"q", b"c"}  # the generation itself, the scan counter, the last colour


def facts(client, pid=PID):
    person = {k: v for k, v in client.hgetall(person_key(pid)).items() if k not in NOT_FACTS}
    return (person, client.hgetall(markers_key(pid)), client.zrange(labs_key(pid), 0, -1, withscores=True),
            client.zrange(visits_key(pid), 0, -1, withscores=True))


def generation(client, pid=PID):
    return client.hget(person_key(pid), "g")


def test_every_write_to_the_facts_moves_the_generation(redis_server):
    stores, stays = redis_stores(redis_server), RedisStays(redis_server)
    persons, facts_store = stores.persons, stores.facts
    now = int(time.time())
    marker = Marker(f"{PID}.01", PID, "close_contact", "x", now - 10, None, "cdc", MarkerStatus.PENDING,
                    created_at=now)
    writes = [
        ("create", lambda: persons.create(PersonRecord(id=PID, id_number_ct=b"\x00id", created_at=now))),
        ("set name", lambda: persons.set_name(PID, b"name", NameSource.SELF, expected=None)),
        ("set phone", lambda: persons.set_phone(PID, b"phone", PH1, Visits({"440100": now - 5}, 1000, now))),
        ("add account", lambda: persons.add_account(PID, ACCT1)),
        ("claim self", lambda: persons.claim_self(PID, ACCT1, now)),
        ("add marker", lambda: facts_store.add_marker(marker)),
        ("approve marker", lambda: facts_store.replace_marker(
            Marker(**{**marker.__dict__, "status": MarkerStatus.ACTIVE}), MarkerStatus.PENDING)),
        ("lab result", lambda: facts_store.add_lab_result(PID, LabResult(now - 3, LabOutcome.NEGATIVE, "lab"))),
        ("stays of the phone", lambda: stays.add([], {PH1: {"440300": now - 1}}, 1000, now)),
        ("new phone", lambda: persons.set_phone(PID, b"phone2", PH2, NO_VISITS)),
        ("remove marker", lambda: facts_store.remove_marker(PID, marker.id)),
        ("second account", lambda: persons.add_account(PID, ACCT2)),
        ("drop account", lambda: persons.drop_account(PID, ACCT2)),
        ("erase, facts kept", lambda: persons.erase(PID, now)),
    ]
    seen = {generation(redis_server)}
    for name, write in writes:
        before = facts(redis_server)
        write()
        assert facts(redis_server) != before, f"{name}: the test's write changed nothing"
        assert generation(redis_server) not in seen, f"{name} changed the facts, not the generation"
        seen.add(generation(redis_server))


def test_a_record_made_again_never_repeats_a_generation(redis_server):
    persons = redis_stores(redis_server).persons
    now = int(time.time())
    persons.create(PersonRecord(id=PID, id_number_ct=b"\x00id", created_at=now))
    persons.set_name(PID, b"name", NameSource.SELF, expected=None)
    first = int(generation(redis_server))
    assert first > 10**15  # the server's time in microseconds: not 1, 2, 3 again after an erasure
    assert persons.erase(PID, now) is False  # no facts: the record goes, but for its revocation time
    persons.create(PersonRecord(id=PID, id_number_ct=b"\x00id", created_at=now))
    assert int(generation(redis_server)) not in (first, first + 1)


# A script's header names its keys ("-- KEYS: person, markers; ARGV: ..."): "person" alone is
# the person hash ("the person's appeals", "person ids" are not).
FACT_KEYS = re.compile(r"\b(person(?!'s| ids)|markers|labs|lab results|visits)\b")
WRITES = re.compile(r"'(HSET|HDEL|HINCRBY|ZADD|ZREM|ZREMRANGEBYRANK|ZREMRANGEBYSCORE|DEL|EXPIRE|EXPIREAT)'")
# Scripts that write only what no answer shows, or remove the person whole.
EXEMPT = {
    "facts_and_scan": "the scan counter q and the scans",
    "admit_and_scan": "the limiter's counters, then facts_and_scan",
    "record_change": "the last colour c and the colour history",
    "discard": "removes the person, every key, for good (a new record starts a new generation)",
    "answer_put": "the answers themselves",
}


@pytest.mark.parametrize("script", sorted(p.stem for p in LUA.glob("*.lua")))
def test_a_script_writing_the_facts_moves_the_generation(script):
    text = (LUA / f"{script}.lua").read_text()
    keys = next((line for line in text.splitlines() if line.startswith("-- KEYS:")), "")
    writes_facts = FACT_KEYS.search(keys.split(";")[0]) is not None and WRITES.search(text) is not None
    if not writes_facts or script in EXEMPT or script == "generation":
        return
    assert "--#include generation" in text and "touch(" in text, f"{script}.lua writes the facts without touch()"


def test_no_python_writes_a_facts_key_but_through_a_script():
    plain = re.compile(r"\.(hset|hsetnx|hdel|hincrby|zadd|zrem\w*|delete|expire\w*)\((person_key|markers_key|labs_key|"
                       r"visits_key)\(")
    found = [str(path.relative_to(ROOT)) for path in (ROOT / "adapters").rglob("*.py")
             for line in path.read_text().splitlines() if plain.search(line)]
    # The bulk loader writes new records whole, with a fresh generation of its own.
    assert found == ["adapters/store/bulk.py"], found


def test_no_python_names_a_person_key_but_the_key_layout():
    """A key pattern spelt out (a SCAN, a batch delete) would bypass the check above: every person
    key comes from adapters/store/keys.py; the layout migration (run with everything stopped)
    and a docstring are the exceptions."""
    found = {str(path.relative_to(ROOT)) for path in (ROOT / "adapters").rglob("*.py")
             if '"hc:p:' in path.read_text() or "'hc:p:" in path.read_text()}
    assert found <= {"adapters/store/keys.py", "adapters/store/migrate.py"}, found
