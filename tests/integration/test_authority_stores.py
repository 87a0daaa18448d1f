"""The authorities' stores on Redis and their fakes, held to one contract; tampering with the
audit trail in Redis itself is found."""
import json

import pytest

from adapters.store.authority import AUDIT_LOG, RedisAppeals, RedisAuditLog, RedisRiskAreas
from adapters.store.facts import RedisFactRecords
from adapters.store.feeds import RedisFeedStore
from adapters.store.policy import RedisPolicyStore
from adapters.store.stats import RedisCounters
from core.audit import GENESIS, AuditTrail
from core.clock import FixedClock
from core.errors import Conflict
from core.feeds import Feed, FeedKind
from core.model import Appeal, AppealStatus, AuditEntry, LabResult, Marker, MarkerStatus, RiskArea
from tests.unit.fakes import FakePersonStore
from tests.unit.fakes_authority import FakeAppeals, FakeAuditLog, FakeRiskAreas

PID = "a" * 24
KEY = b"k" * 32


@pytest.fixture(params=["redis", "fake"])
def kind(request):
    return request.param


def test_appeals_round_trip_and_only_open_ones_are_decided(kind, redis_server):
    appeals = RedisAppeals(redis_server) if kind == "redis" else FakeAppeals()
    first = Appeal(f"{PID}.01", PID, "不在场", 100, f"{PID}.m1")
    second = Appeal(f"{PID}.02", PID, "另一个", 200)
    appeals.add(first)
    appeals.add(second)
    assert appeals.get(PID, first.id) == first and appeals.get("b" * 24, first.id) is None
    assert appeals.for_person(PID) == [second, first]
    assert appeals.open_appeals(10) == [first, second]
    decided = Appeal(**{**vars(first), "status": AppealStatus.UPHELD, "decided_at": 300, "decision_reason": "误判"})
    assert appeals.decide(decided) is True
    assert appeals.decide(decided) is False
    assert appeals.open_appeals(10) == [second]
    assert appeals.get(PID, first.id) == decided


def test_risk_areas_keep_the_current_level_and_every_change(kind, redis_server):
    areas = RedisRiskAreas(redis_server) if kind == "redis" else FakeRiskAreas()
    high = RiskArea("440304", "high", "某小区", 100, "c1")
    assert areas.set(high) is None
    low = RiskArea("440304", "low", "解封", 200, "c2")
    assert areas.set(low) == high
    assert areas.current() == {"440304": low}
    assert areas.history(10) == [low, high]


def test_the_audit_log_appends_only_after_the_head_it_was_chained_from(kind, redis_server):
    log = RedisAuditLog(redis_server) if kind == "redis" else FakeAuditLog()
    trail = AuditTrail(log, KEY, FixedClock(1000))
    assert log.head() == (0, GENESIS)
    from core.audit import Action

    [first] = trail.record("c1", Action("marker.add", "p.m1", "x", "green", "yellow"), role="authority")
    second, third = trail.record("c2", Action("a", "t"), Action("b", "t"), role="authority")
    assert (first.seq, second.seq, third.seq) == (1, 2, 3) and second.prev_hash == first.hash
    assert log.head() == (3, third.hash)
    stale = AuditEntry(4, 1000, "c3", "authority", "c", "t", prev_hash=first.hash, hash="x")
    assert log.append((1, first.hash), [stale]) is False  # someone appended meanwhile
    assert log.entries(1, 10) == [second, third] and list(log.all_entries()) == [first, second, third]
    assert trail.verify().ok


def test_an_entry_edited_in_redis_breaks_the_chain_there(redis_server):
    from core.audit import Action

    trail = AuditTrail(RedisAuditLog(redis_server), KEY, FixedClock(1000))
    for n in range(5):
        trail.record("c1", Action("risk_area.set", "440304", f"change {n}"), role="authority")
    raw = json.loads(redis_server.lindex(AUDIT_LOG, 2))
    raw["after"] = "red"
    redis_server.lset(AUDIT_LOG, 2, json.dumps(raw))
    result = trail.verify()
    assert (result.ok, result.broken_at, result.problem) == (False, 3, "edited")
    redis_server.lset(AUDIT_LOG, 2, redis_server.lindex(AUDIT_LOG, 1))  # a copied entry
    assert trail.verify().broken_at == 3
    redis_server.lrem(AUDIT_LOG, 0, redis_server.lindex(AUDIT_LOG, 2))
    assert trail.verify().ok is False


def test_pending_markers_queue_and_compare_and_set(kind, redis_server):
    facts = RedisFactRecords(redis_server) if kind == "redis" else FakePersonStore()
    pending = Marker(f"{PID}.m1", PID, "confirmed", "x", 100, None, "c1", MarkerStatus.PENDING, created_at=100)
    facts.add_marker(pending)
    facts.add_marker(Marker(f"{PID}.m2", PID, "symptoms", "x", 100, None, "self", created_at=100))
    assert facts.pending_markers(10) == [(pending.id, 100)]
    approved = Marker(**{**vars(pending), "status": MarkerStatus.ACTIVE, "approved_by": "c2"})
    assert facts.replace_marker(approved, expected=MarkerStatus.PENDING) is True
    assert facts.replace_marker(approved, expected=MarkerStatus.PENDING) is False
    assert facts.pending_markers(10) == []


def test_the_same_lab_result_is_kept_once(kind, redis_server):
    facts = RedisFactRecords(redis_server) if kind == "redis" else FakePersonStore()
    result = LabResult(1000, "negative", "某检测机构")
    assert facts.add_lab_result(PID, result) is True
    assert facts.add_lab_result(PID, result) is False
    assert facts.add_lab_result(PID, LabResult(1001, "negative", "某检测机构")) is True


def test_feed_secrets_are_kept_sealed(redis_server):
    store = RedisFeedStore(redis_server, KEY)
    feed = Feed("lab-1", FeedKind.LAB, "s3cret-value-for-the-test", 100)
    store.save(feed)
    assert store.get("lab-1") == feed and store.all() == [feed] and store.get("lab-2") is None
    assert b"s3cret" not in redis_server.hget("hc:feeds", "lab-1")


def test_a_published_policy_reaches_every_process_and_a_version_is_published_once(redis_server):
    from core.policy import load_policy
    from tests.unit.conftest import POLICY_FILE

    policy_doc = json.loads(POLICY_FILE.read_text(encoding="utf-8"))
    first = RedisPolicyStore(redis_server, load_policy(policy_doc), policy_doc, refresh_seconds=0)
    other = RedisPolicyStore(redis_server, load_policy(policy_doc), policy_doc, refresh_seconds=0)
    assert first.ensure_published() == policy_doc["version"]
    newer = {**policy_doc, "version": "2099-01-01"}
    assert first.publish(newer).version == "2099-01-01"
    assert other.current().version == "2099-01-01"
    with pytest.raises(Conflict):
        other.publish(newer)


def test_dashboard_counters_count_changes_and_scans(redis_server):
    counters = RedisCounters(redis_server, flush_seconds=3600)
    at = 1_764_547_200  # 2025-12-01 08:00 in Beijing
    counters.count_change(None, "green", (), at)
    counters.count_change("green", "red", ("close_contact",), at)
    for _ in range(3):
        counters.count_scan(at)
    snapshot = counters.snapshot(at, 2)
    assert snapshot["colors"] == {"green": 0, "red": 1}
    assert snapshot["reasons_by_day"]["2025-12-01"] == {"close_contact": 1}
    assert snapshot["scans_by_hour"]["2025-12-01T08"] == 3
