"""One contract, two stores: the Redis adapters and the unit tests' in-memory fake agree."""
import time

import pytest

from adapters.store import redis_stores
from adapters.store.travel import RedisStays
from core.model import NO_VISITS, ColorChange, LabResult, Link, Marker, PersonRecord, ScanRecord, Visits
from tests.unit.fakes import FakePersonStore
from tests.unit.fakes_authority import FakeStays


class RedisStore:
    """Every person port of the Redis adapters behind one object, as the fake has them."""

    def __init__(self, client) -> None:
        stores = redis_stores(client)
        self._ports = (stores.persons, stores.links, stores.facts, stores.history, stores.reads)

    def __getattr__(self, name):
        for port in self._ports:
            if hasattr(port, name):
                return getattr(port, name)
        raise AttributeError(name)

PID, OTHER = "a" * 24, "b" * 24
# Hex, as the services make them: ids 24 digits (96 bits), keyed hashes 32 (128 bits).
H, ID_HASH = "1" * 32, "c" * 8 + PID
ACCT, ACCT1, ACCT2, STRANGER = "ac" * 12, "a1" * 12, "a2" * 12, "5e" * 12
PH1, PH2, PH3, PH9 = "e1" * 16, "e2" * 16, "e3" * 16, "e9" * 16
T = int(time.time())
DAY = 86400


@pytest.fixture(params=["redis", "fake"])
def store(request, redis_server):
    return RedisStore(redis_server) if request.param == "redis" else FakePersonStore()


def record_scan(store, person_id: str, scan: ScanRecord, retention: int) -> None:
    """A scan of a code issued at the moment of scanning."""
    store.load_and_record_scan(person_id, scan, scan.at, retention)


def record(pid=PID, **kw) -> PersonRecord:
    return PersonRecord(id=pid, id_number_ct=b"\x00id", created_at=100, **kw)


def test_first_index_claim_wins(store):
    assert store.claim_index(H, PID) == PID
    assert store.claim_index(H, OTHER) == PID


def test_create_never_overwrites_and_pii_is_set_separately(store):
    store.create(record())
    store.set_name(PID, b"name", "self", expected=None)
    store.set_phone(PID, b"phone", PH1, NO_VISITS)
    store.create(PersonRecord(id=PID, id_number_ct=b"x"))
    got = store.get(PID)
    assert (got.id_number_ct, got.name_ct, got.phone_ct) == (b"\x00id", b"name", b"phone")
    assert store.get(OTHER) is None


def test_self_claim_is_first_come_and_cleared_by_erasure(store):
    store.create(record())
    assert store.claim_self(PID, ACCT1, 10) is None  # nobody has applied: no name yet
    store.set_name(PID, b"n", "self", expected=None)
    assert store.claim_self(PID, ACCT1, 10) == ACCT1
    assert store.claim_self(PID, ACCT2, 10) == ACCT1
    assert store.claim_self(PID, ACCT1, 10) == ACCT1
    assert store.get(PID).self_account == ACCT1
    store.add_marker(Marker(f"{PID}.01", PID, "confirmed", "x", 1, None, "c"))  # keeps the record
    store.erase(PID, 100)
    store.set_name(PID, b"n", "self", expected=None)
    assert store.claim_self(PID, ACCT2, 99) is None  # linked before the erasure: a stale link
    assert store.claim_self(PID, ACCT2, 100) == ACCT2


def test_a_claimed_name_rides_on_the_link_until_verification(store):
    claimed = Link(PID, "self", False, 1, claimed_name_ct=b"\x00sealed|name\xff", claimed_phone_ct=b"|p")
    store.link(ACCT, claimed, 5)
    assert store.links(ACCT)[PID] == claimed
    assert store.load(PID, ACCT).link == claimed
    phone_only = Link(OTHER, "family", False, 2, claimed_phone_ct=b"p")
    store.link(ACCT, phone_only, 5)
    assert store.links(ACCT)[OTHER] == phone_only
    assert store.set_verified(ACCT, PID) is True
    assert store.links(ACCT)[PID] == Link(PID, "self", True, 1)
    assert store.set_verified(ACCT, "z" * 24) is False


def test_link_outcomes(store):
    assert store.link(ACCT, Link(PID, "self", False, 1), 1) == "ok"
    assert store.link(ACCT, Link(PID, "family", False, 2), 1) == "exists"
    assert store.link(ACCT, Link(OTHER, "self", False, 3), 1) == "self_taken"
    assert store.link(ACCT, Link(OTHER, "family", False, 4), 1) == "ok"
    assert store.link(ACCT, Link("c" * 24, "family", False, 5), 1) == "family_full"
    store.set_verified(ACCT, PID)
    assert store.links(ACCT)[PID] == Link(PID, "self", True, 1)
    store.unlink(ACCT, OTHER)
    assert set(store.links(ACCT)) == {PID}


def test_facts_round_trip(store):
    store.create(record())
    marker = Marker(f"{PID}.01", PID, "close_contact", "流调", 1000, None, "cred1")
    store.add_marker(marker)
    store.add_lab_result(PID, LabResult(2000, "negative", "某检测机构"))
    store.link(ACCT, Link(PID, "self", False, 1), 5)
    snapshot = store.load(PID, ACCT)
    link, got, facts = snapshot.link, snapshot.person, snapshot.facts
    assert link.relation == "self" and got.id == PID
    assert facts.markers == (marker,)
    assert facts.lab_results == (LabResult(2000, "negative", "某检测机构"),)
    assert store.load(PID, STRANGER).link is None
    assert store.remove_marker(PID, marker.id) == marker
    assert store.remove_marker(PID, marker.id) is None


def test_lab_results_keep_the_latest_fifty(store):
    store.create(record())
    for at in range(60):
        store.add_lab_result(PID, LabResult(at, "negative", "lab"))
    facts = store.load(PID).facts
    assert sorted(r.sampled_at for r in facts.lab_results) == list(range(10, 60))


def test_change_is_recorded_only_when_the_last_colour_still_holds(store):
    store.create(record())
    first = ColorChange(1000, None, "green", ())
    assert store.record_change(PID, None, first, 30 * DAY) is True
    assert store.record_change(PID, None, ColorChange(1000, None, "green", ()), 30 * DAY) is False
    second = ColorChange(1000, "green", "red", ("close_contact",))
    assert store.record_change(PID, "green", second, 30 * DAY) is True
    assert store.get(PID).last_color == "red"
    changes, _ = store.history(PID, 0)
    assert changes == [second, first]  # newest first, same-second order kept


def test_history_is_trimmed_by_retention(store):
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    record_scan(store, PID, ScanRecord(1000, "gate", "green"), 10 * DAY)
    record_scan(store, PID, ScanRecord(1000 + 11 * DAY, "gate", "red"), 10 * DAY)
    _, scans = store.history(PID, 0)
    assert scans == [ScanRecord(1000 + 11 * DAY, "gate", "red")]
    assert store.history(PID, 1000 + 12 * DAY) == ([], [])


def test_erase_keeping_facts_drops_pii_and_history(store):
    store.claim_index(ID_HASH, PID)
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    store.set_phone(PID, b"p", PH1, NO_VISITS)
    assert store.claim_self(PID, ACCT, 1) == ACCT
    store.add_marker(Marker(f"{PID}.01", PID, "confirmed", "x", 1, None, "c"))
    record_scan(store, PID, ScanRecord(5, "gate", "red"), DAY)
    assert store.history(PID, 0)[1] == [ScanRecord(5, "gate", "red")]
    assert store.erase(PID, now=777) is True
    got = store.get(PID)
    assert (got.name_ct, got.phone_ct, got.self_account, got.revoked_before) == (None, None, None, 777)
    assert len(store.load(PID).facts.markers) == 1
    assert store.history(PID, 0) == ([], [])
    assert store.claim_index(ID_HASH, OTHER) == PID


def test_erase_without_facts_drops_the_record_but_remembers_when(store):
    store.claim_index(ID_HASH, PID)
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    assert store.erase(PID, now=777) is False
    assert store.get(PID) is None
    assert store.claim_index(ID_HASH, OTHER) == PID  # the index still leads here
    store.create(record())  # applied again: a fresh record under the same id
    got = store.get(PID)
    assert got.name_ct is None and got.revoked_before == 777


def test_a_marker_written_after_an_erasure_is_kept(store):
    store.create(record())
    store.erase(PID, now=777)
    store.add_marker(Marker(f"{PID}.01", PID, "confirmed", "x", 800, None, "c"))
    assert store.erase(PID, now=900) is True
    assert len(store.load(PID).facts.markers) == 1


def test_scans_of_unknown_persons_are_not_recorded(store):
    record_scan(store, OTHER, ScanRecord(5, "gate", "green"), DAY)
    assert store.history(OTHER, 0) == ([], [])


def test_scan_is_recorded_with_the_read_and_can_be_amended(store):
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    snapshot = store.load_and_record_scan(PID, ScanRecord(50, "gate", "green"), 40, DAY)
    got, facts, ref = snapshot.person, snapshot.facts, snapshot.scan_ref
    assert got.id == PID and facts.markers == () and ref
    store.replace_scan(PID, ref, ScanRecord(50, "gate", "red changed"))
    assert store.history(PID, 0)[1] == [ScanRecord(50, "gate", "red changed")]


def test_scan_of_a_code_issued_before_erasure_is_not_recorded(store):
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    store.add_marker(Marker(f"{PID}.01", PID, "confirmed", "x", 1, None, "c"))
    store.erase(PID, now=100)
    store.set_name(PID, b"n", "self", expected=None)  # applied again
    assert store.load_and_record_scan(PID, ScanRecord(150, "gate", "red"), 99, DAY).scan_ref is None
    assert store.load_and_record_scan(PID, ScanRecord(150, "gate", "red"), 120, DAY).scan_ref is not None
    assert len(store.history(PID, 0)[1]) == 1


def save_session(store, redis_server) -> None:
    """A session of ACCT under the token hash "digest", where `store` reads sessions."""
    from adapters.store.tokens import RedisSessionStore
    from core.model import Session
    from tests.unit.fakes import FakeTokenStore

    tokens = RedisSessionStore(redis_server) if isinstance(store, RedisStore) else FakeTokenStore()
    if not isinstance(store, RedisStore):
        store.tokens = tokens
    tokens.save_session("digest", Session(ACCT, "dev"), 60)


def test_session_is_read_with_the_person(store, redis_server):
    from core.model import Session

    save_session(store, redis_server)
    store.create(record())
    store.link(ACCT, Link(PID, "self", False, 1), 5)
    snapshot = store.load_for_session("digest", ACCT, PID)
    session, link, got = snapshot.session, snapshot.link, snapshot.person
    assert session == Session(ACCT, "dev") and link.relation == "self" and got.id == PID
    assert store.load_for_session("other", ACCT, PID).session is None


def test_scan_recording_survives_a_script_flush(redis_server):
    store = RedisStore(redis_server)
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    redis_server.script_flush()
    assert store.load_and_record_scan(PID, ScanRecord(50, "gate", "green"), 40, DAY).scan_ref
    assert len(store.history(PID, 0)[1]) == 1


def test_scan_history_is_capped(redis_server):
    from adapters.store.reads import MAX_SCANS

    store = RedisStore(redis_server)
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    for at in range(MAX_SCANS + 20):
        record_scan(store, PID, ScanRecord(1000 + at, "gate", "expired"), DAY)
    scans = store.history(PID, 0)[1]
    assert len(scans) == MAX_SCANS and scans[0].at == 1000 + MAX_SCANS + 19


def test_verifying_a_link_with_claims_leaves_the_account_hash_compact(redis_server):
    from adapters.store.keys import account_key

    store = RedisStore(redis_server)
    claimed = Link(PID, "self", False, 1, claimed_name_ct=b"n" * 40, claimed_phone_ct=b"p" * 42)
    store.link(ACCT, Link(OTHER, "family", True, 0), 5)
    store.link(ACCT, claimed, 5)
    assert redis_server.object("encoding", account_key(ACCT)) == b"hashtable"  # a long value
    assert store.set_verified(ACCT, PID)
    assert redis_server.object("encoding", account_key(ACCT)) in (b"listpack", b"ziplist")  # 7 / 6.2
    assert store.links(ACCT) == {PID: Link(PID, "self", True, 1), OTHER: Link(OTHER, "family", True, 0)}


def test_linked_accounts_are_noted_once_and_dropped(store):
    store.create(record())
    store.add_account(PID, ACCT1)
    store.add_account(PID, ACCT2)
    store.add_account(PID, ACCT1)
    assert store.get(PID).accounts == (ACCT1, ACCT2)
    assert store.drop_account(PID, ACCT1) == 1
    assert store.drop_account(PID, STRANGER) == 1
    assert store.drop_account(PID, ACCT2) == 0
    assert store.get(PID).accounts == ()
    assert store.drop_account(OTHER, ACCT1) == 0  # no such person


def test_a_person_nobody_links_to_and_no_fact_names_is_discarded_with_the_index(store):
    assert store.claim_index(ID_HASH, PID) == PID
    store.create(record())
    store.add_account(PID, ACCT)
    assert store.discard(PID, ID_HASH) is False  # an account links to them
    store.drop_account(PID, ACCT)
    assert store.find(ID_HASH) == PID
    assert store.discard(PID, ID_HASH) is True
    assert store.get(PID) is None and store.find(ID_HASH) is None
    assert store.claim_index(ID_HASH, OTHER) == OTHER  # the number is free for a new person


def test_a_person_an_authority_fact_names_is_not_discarded(store):
    store.claim_index(ID_HASH, PID)
    store.create(record())
    store.add_lab_result(PID, LabResult(2000, "positive", "lab"))
    assert store.discard(PID, ID_HASH) is False
    assert store.get(PID) is not None and store.find(ID_HASH) == PID


def test_discarding_leaves_an_index_entry_that_names_another_person(store):
    store.claim_index(ID_HASH, OTHER)
    store.create(record())
    assert store.discard(PID, ID_HASH) is True
    assert store.find(ID_HASH) == OTHER


def test_the_same_code_at_the_same_place_is_recorded_once_in_the_store(store):
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    first = store.load_and_record_scan(PID, ScanRecord(50, "gate", "green"), 40, DAY).scan_ref
    assert first is not None
    assert store.load_and_record_scan(PID, ScanRecord(55, "gate", "green"), 40, DAY).scan_ref is None
    store.replace_scan(PID, first, ScanRecord(50, "gate", "red changed"))
    assert store.load_and_record_scan(PID, ScanRecord(56, "gate", "red"), 40, DAY).scan_ref is None  # amended: still it
    assert store.load_and_record_scan(PID, ScanRecord(57, "door", "green"), 40, DAY).scan_ref is not None
    assert store.load_and_record_scan(PID, ScanRecord(58, "gate", "green"), 41, DAY).scan_ref is not None
    assert [s.place for s in store.history(PID, 0)[1]] == ["gate", "door", "gate"]


def test_visits_reach_the_persons_with_the_phone_and_stay_with_that_phone(store, redis_server):
    stays = RedisStays(redis_server) if isinstance(store, RedisStore) else FakeStays(store)

    def visits(pid=PID):  # times as offsets from T: the key expires on the server's clock
        return dict(store.load(pid).facts.visits)

    store.create(record())
    store.create(record(OTHER))
    store.set_phone(PID, b"p", PH1, Visits({"440100": T + 500}, 1000, T + 600))
    store.set_phone(OTHER, b"p", PH1, NO_VISITS)  # a relative with the same phone
    assert visits() == {"440100": T + 500}
    stays.add([], {PH1: {"440300": T + 700, "440100": T + 400}, PH9: {"110100": T + 700}}, 1000, T + 800)
    assert visits() == {"440100": T + 500, "440300": T + 700}  # a city keeps its latest stay
    assert visits(OTHER) == {"440300": T + 700, "440100": T + 400}
    store.set_phone(PID, b"p2", PH2, Visits({}, 1000, T + 900))
    assert visits() == {}  # another phone: the old one's stays are not this one's
    stays.add([], {PH1: {"440500": T + 900}}, 1000, T + 900)
    assert visits() == {} and "440500" in visits(OTHER)
    stays.add([], {PH2: {"440500": T + 950}}, 1000, T + 950)
    assert store.erase(PID, now=T + 990) is False
    assert visits() == {}
    stays.add([], {PH2: {"440500": T + 990}}, 1000, T + 990)  # the erased person left the index
    assert visits() == {}


def test_visits_expire_a_window_after_the_latest(redis_server):
    store, stays = RedisStore(redis_server), RedisStays(redis_server)
    store.create(record())
    store.set_phone(PID, b"p", PH1, NO_VISITS)
    now = int(time.time())
    stays.add([], {PH1: {"440100": now - 100, "440300": now - 50}}, 1000, now)
    assert abs(redis_server.ttl(f"hc:p:{{{PID}}}:trip") - 950) <= 2


@pytest.fixture(params=["redis", "fake"])
def stay_store(request, redis_server):
    if request.param == "redis":
        return RedisStore(redis_server), RedisStays(redis_server)
    persons = FakePersonStore()
    return persons, FakeStays(persons)


def test_stays_come_back_as_they_were_sent_by_end_and_older_than_the_window_go(stay_store):
    from core.stays import Stay

    _, stays = stay_store
    sent = [Stay("440304", T - 900, T - 600), Stay("JP", T - 500, T - 100), Stay("110105", T - 700, T - 300),
            Stay("440304", T - 900, T - 600)]  # the same stay twice is one record
    stays.add([(PH1, s) for s in sent] + [(PH2, Stay("440100", T - 50, T - 10))], {}, 1000, T)
    assert stays.stays(PH1) == [sent[0], sent[2], sent[1]]
    assert stays.stays(PH2) == [Stay("440100", T - 50, T - 10)] and stays.stays(PH3) == []
    stays.add([(PH1, Stay("440100", T + 100, T + 200))], {}, 1000, T + 500)  # now T + 500: ends before T - 500 go
    assert stays.stays(PH1) == [sent[2], sent[1], Stay("440100", T + 100, T + 200)]


def test_stays_with_visits_reach_the_persons_of_that_phone_only(stay_store):
    from core.stays import Stay

    store, stays = stay_store
    store.create(record())
    store.create(record(OTHER))
    store.set_phone(PID, b"p", PH1, NO_VISITS)
    store.set_phone(OTHER, b"p", PH2, NO_VISITS)
    stays.add([(PH1, Stay("440106", T - 900, T - 100)), (PH3, Stay("110105", T - 900, T - 100))],
              {PH1: {"440100": T - 100}, PH3: {"110000": T - 100}}, 1000, T)
    assert dict(store.load(PID).facts.visits) == {"440100": T - 100}
    assert dict(store.load(OTHER).facts.visits) == {}


def test_an_admission_counts_the_scan_in_its_round_trip_and_a_refusal_records_nothing(redis_server):
    from adapters.store.scripts import is_cluster
    from core.model import Admission, CountWindow

    store = RedisStore(redis_server)
    if is_cluster(redis_server):  # the counters are in other slots than the person
        assert store.admits is False
        return
    store.create(record())
    store.set_name(PID, b"n", "self", expected=None)
    minute = CountWindow("hc:test:adm:m:prev", "hc:test:adm:m:cur", 2, 60)
    day = CountWindow("hc:test:adm:d:prev", "hc:test:adm:d:cur", 10, DAY)
    admission = Admission((minute, day))
    verdicts = [store.load_and_record_scan(PID, ScanRecord(50 + n, f"gate-{n}", "green"), 40, DAY, admission)
                for n in range(3)]
    assert [v.admitted for v in verdicts] == [(True, True), (True, True), (False, True)]
    assert verdicts[0].person.id == PID and verdicts[0].scan_ref and verdicts[1].scan_ref
    assert verdicts[2].person is None and verdicts[2].scan_ref is None  # refused: not read, not recorded
    assert sorted(s.place for s in store.history(PID, 0)[1]) == ["gate-0", "gate-1"]
    # The day counted all three (a refusal by one window still counts in the others).
    assert redis_server.get("hc:test:adm:m:cur") == b"2" and redis_server.get("hc:test:adm:d:cur") == b"3"
    assert redis_server.pttl("hc:test:adm:d:cur") > (2 * DAY - 60) * 1000  # as limits: twice the window


def test_the_lean_read_finds_a_kept_answer_only_as_it_was_kept(store, redis_server):
    """load_answer (a page refreshing): the kept answer with the token's account and the
    versions, and None once the salt, the link or the time says the answer is no longer exact."""
    from core.model import CacheProbe, Remember

    save_session(store, redis_server)
    store.create(record())
    store.link(ACCT, Link(PID, "self", True, 1), 5)
    now = int(time.time())

    def keep() -> None:  # a full read finds the answer (and, on Redis, this process expects it again)
        probe = CacheProbe("slot", now, "salt")
        snapshot = store.load_for_session("digest", ACCT, PID, probe)
        if snapshot.cached is None:
            store.remember(Remember(PID, "slot", snapshot.digest, now + 30, now, now + 60), b"body")
            assert store.load_for_session("digest", ACCT, PID, probe).cached is not None

    keep()
    kept = store.load_answer("digest", ACCT, PID, "slot", "salt", now)
    assert kept.account_id == ACCT and kept.answer.body == b"body"
    assert (kept.answer.issued_at, kept.answer.expires_at) == (now, now + 60)
    assert isinstance(kept.risk_version, int)
    assert store.load_answer("other", ACCT, PID, "slot", "salt", now).account_id is None  # no such session
    assert store.load_answer("digest", ACCT, PID, "slot", "another salt", now) is None
    keep()
    assert store.load_answer("digest", ACCT, PID, "other slot", "salt", now) is None
    assert store.load_answer("digest", ACCT, PID, "slot", "salt", now + 30) is None  # its reuse time is over
    keep()
    store.unlink(ACCT, PID)
    store.link(ACCT, Link(PID, "family", True, 1), 5)  # the link is not what it was
    assert store.load_answer("digest", ACCT, PID, "slot", "salt", now) is None
