"""The authorities' safeguards: the two-person rule for red, lapsing approvals, one audit entry per
action and a chain that shows tampering, appeals, declarations, risk areas, lab feeds."""
import hashlib
import hmac
import json

import pytest

from core.errors import BadSignature, Conflict, Forbidden, InvalidInput, NotFound
from core.feeds import FeedKind
from core.marking import MarkerRequest
from core.model import Color, MarkerStatus
from core.persons import Application
from tests.unit.fakes import NOW, World, id_number

ZHANG = "11010519491231002X"
HOUR, DAY = 3600, 86400


@pytest.fixture
def world(policy):
    return World(policy=policy)


@pytest.fixture
def zhang(world):
    session = world.login("alice")
    view = world.apply_verified(session, Application("张三", ZHANG, "13800138000", "self"))
    return session, view


def colour(world, zhang) -> Color:
    session, view = zhang
    return world.codes.show(session, view.id).evaluation.color


def red(kind: str = "close_contact", **fields) -> MarkerRequest:
    return MarkerRequest(kind=kind, reason="流调判定", id_number=fields.pop("id_number", ZHANG), **fields)


def actions(world) -> list[str]:
    return [entry.action for entry in world.audit_log.log]


# -- the two-person rule -------------------------------------------------------------------------


def test_a_manual_red_marker_has_no_effect_until_a_second_credential_approves(world, zhang):
    proposer, approver = world.staff(), world.staff("authority_approver")
    outcome = world.marking.add_marker(red(), proposer)
    assert outcome.marker.status is MarkerStatus.PENDING and outcome.color_after == "green"
    assert outcome.lapses_at == NOW + 24 * HOUR
    assert colour(world, zhang) is Color.GREEN
    approved = world.marking.approve(outcome.marker.id, approver)
    assert approved.marker.status is MarkerStatus.ACTIVE and approved.marker.approved_by == approver.id
    assert (approved.color_before, approved.color_after) == ("green", "red")
    assert colour(world, zhang) is Color.RED


def test_the_proposing_credential_can_never_approve_its_own_red_marker(world, zhang):
    proposer = world.staff()
    outcome = world.marking.add_marker(red(), proposer)
    with pytest.raises(Forbidden):
        world.marking.approve(outcome.marker.id, proposer)
    assert colour(world, zhang) is Color.GREEN


def test_another_authority_credential_may_approve(world, zhang):
    outcome = world.marking.add_marker(red("confirmed"), world.staff())
    world.marking.approve(outcome.marker.id, world.staff("authority"))
    assert colour(world, zhang) is Color.RED


def test_an_approved_marker_cannot_be_approved_again(world, zhang):
    outcome = world.mark(red())
    with pytest.raises(Conflict):
        world.marking.approve(outcome.marker.id, world.staff("authority_approver"))


def test_a_yellow_marker_needs_no_approval(world, zhang):
    outcome = world.marking.add_marker(red("secondary_contact"), world.staff())
    assert outcome.marker.status is MarkerStatus.ACTIVE and colour(world, zhang) is Color.YELLOW


def test_a_bulk_marking_follows_the_same_rule_and_reports_each_row(world, zhang):
    numbers = [ZHANG, "110105194912310021", id_number(sequence="007")]
    rows = world.marking.add_markers([red(id_number=n) for n in numbers], world.staff())
    assert [(r.line, r.outcome.marker.status if r.outcome else None, type(r.error).__name__ if r.error else None)
            for r in rows] == [(1, "pending", None), (2, None, "InvalidInput"), (3, "pending", None)]
    assert colour(world, zhang) is Color.GREEN
    assert len(world.marking.pending()) == 2


def test_a_pending_marker_lapses_unapproved_and_then_cannot_be_approved(world, zhang):
    outcome = world.marking.add_marker(red(), world.staff())
    world.clock.advance(24 * HOUR - 1)
    assert [p.marker.id for p in world.marking.pending()] == [outcome.marker.id]
    world.clock.advance(1)
    assert world.marking.pending() == []
    with pytest.raises(Conflict):
        world.marking.approve(outcome.marker.id, world.staff("authority_approver"))
    assert world.store.markers[outcome.marker.person_id][outcome.marker.id].status is MarkerStatus.LAPSED
    assert colour(world, zhang) is Color.GREEN
    assert actions(world)[-1] == "marker.lapse"


# -- the audit trail -------------------------------------------------------------------------------


def test_every_action_is_exactly_one_audit_entry(world, zhang):
    outcome = world.marking.add_marker(red(), world.staff())
    assert actions(world) == ["marker.propose"]
    world.marking.approve(outcome.marker.id, world.staff("authority_approver"))
    assert actions(world) == ["marker.propose", "marker.approve"]
    world.marking.remove_marker(outcome.marker.id, "误判", world.staff())
    world.marking.add_lab_result(ZHANG, NOW - HOUR, "negative", "某检测机构", actor="feed:lab")
    world.marking.add_lab_result(ZHANG, NOW - HOUR, "negative", "某检测机构", actor="feed:lab")  # again: nothing
    world.services.risk_areas.set("440304", "high", "疫情", world.staff())
    assert actions(world) == ["marker.propose", "marker.approve", "marker.remove", "lab.negative", "risk_area.set"]
    entry = world.audit_log.log[1]
    assert (entry.before, entry.after, entry.target) == ("green", "red", outcome.marker.id)
    assert ZHANG not in json.dumps([vars(e) for e in world.audit_log.log], ensure_ascii=False)  # pseudonymous


def test_the_chain_verifies_and_any_tampering_is_found_at_its_entry(world, zhang):
    for _ in range(4):
        world.services.risk_areas.set("440304", "medium", "x", world.staff())
    assert world.services.audit.verify().ok
    world.audit_log.tamper(2, reason="edited")
    result = world.services.audit.verify()
    assert (result.ok, result.broken_at, result.problem) == (False, 3, "edited")


def test_a_deleted_or_inserted_audit_entry_is_found(world, zhang):
    for _ in range(4):
        world.services.risk_areas.set("440304", "medium", "x", world.staff())
    deleted = world.audit_log.log.pop(1)
    assert world.services.audit.verify().broken_at == 2  # the position where the deleted one was
    world.audit_log.log.insert(1, deleted)
    world.audit_log.log.insert(2, world.audit_log.log[0])
    assert world.services.audit.verify().ok is False


# -- appeals and declarations ----------------------------------------------------------------------


def test_an_upheld_appeal_clears_the_contested_marker_and_a_rejected_one_keeps_it(world, zhang):
    session, view = zhang
    marker = world.mark(red()).marker
    appeal = world.services.appeals.appeal(session, view.id, "那天我不在场", marker.id)
    assert appeal.status == "open" and world.services.appeals.open_appeals() == [appeal]
    with pytest.raises(Conflict):
        world.services.appeals.appeal(session, view.id, "again", marker.id)  # one open appeal of it
    decided = world.services.appeals.decide(appeal.id, True, "核实误判", world.staff())
    assert decided.status == "upheld" and decided.decision_reason == "核实误判"
    assert colour(world, zhang) is Color.GREEN
    assert world.services.appeals.appeals_of(session, view.id)[0].status == "upheld"
    assert actions(world)[-2:] == ["marker.remove", "appeal.upheld"]

    second = world.mark(red()).marker
    appeal = world.services.appeals.appeal(session, view.id, "不服", second.id)
    world.services.appeals.decide(appeal.id, False, "流调属实", world.staff())
    assert colour(world, zhang) is Color.RED
    with pytest.raises(Conflict):
        world.services.appeals.decide(appeal.id, True, "x", world.staff())


def test_an_appeal_needs_the_face_check_and_a_marker_of_the_person(world):
    session = world.login("bob")
    view = world.persons.apply(session, Application("张三", ZHANG, "13800138000", "self"))
    with pytest.raises(Exception, match="verification_required"):
        world.services.appeals.appeal(session, view.id, "x", None)
    with pytest.raises(NotFound):
        world.services.appeals.decide("0" * 24 + ".x", True, "x", world.staff())


def test_declared_symptoms_turn_yellow_until_a_negative_test(world, zhang):
    from core.appeals import Declaration

    session, view = zhang
    world.services.appeals.declare(session, view.id, Declaration(("发热",), False, ""))
    assert colour(world, zhang) is Color.YELLOW
    world.clock.advance(HOUR)
    world.marking.add_lab_result(ZHANG, NOW + HOUR, "negative", "lab", actor="feed:lab")
    assert colour(world, zhang) is Color.GREEN
    with pytest.raises(InvalidInput):
        world.services.appeals.declare(session, view.id, Declaration((), False, "nothing"))


# -- lab results: the clearing rule at its edges ---------------------------------------------------


@pytest.mark.parametrize("gap_hours, cleared", [(23, False), (24, True)])
def test_two_negatives_clear_a_secondary_contact_only_24_h_apart(world, zhang, gap_hours, cleared):
    world.mark(red("secondary_contact"))
    world.clock.advance(DAY * 2)
    first = world.clock.now() - gap_hours * HOUR
    world.marking.add_lab_result(ZHANG, first, "negative", "lab", actor="feed:lab")
    world.marking.add_lab_result(ZHANG, world.clock.now(), "negative", "lab", actor="feed:lab")
    assert colour(world, zhang) is (Color.GREEN if cleared else Color.YELLOW)


def test_a_positive_result_colours_red_without_approval(world, zhang):
    world.marking.add_lab_result(ZHANG, NOW - HOUR, "positive", "lab", actor="feed:lab")
    assert colour(world, zhang) is Color.RED


# -- signed feeds --------------------------------------------------------------------------------


def signed(feed, body: bytes, at: int) -> tuple[str, str]:
    return str(at), hmac.new(feed.secret.encode(), str(at).encode() + b"." + body, hashlib.sha256).hexdigest()


def test_a_lab_batch_keeps_good_rows_reports_bad_ones_by_line_and_is_idempotent(world, zhang):
    feed = world.services.feeds.create("lab-1", FeedKind.LAB)
    body = "\n".join([
        json.dumps({"id_number": ZHANG, "sampled_at": NOW - HOUR, "result": "positive", "lab": "某检测机构"}),
        "{not json",
        json.dumps({"id_number": "110105194912310021", "sampled_at": NOW, "result": "negative", "lab": "x"}),
        json.dumps({"id_number": ZHANG, "sampled_at": "2026-12-01T07:00:00+08:00", "result": "maybe", "lab": "x"}),
    ]).encode()
    result = world.services.feeds.lab_results(feed, body)
    assert result.accepted == 1 and [r.line for r in result.rejected] == [2, 3, 4]
    assert colour(world, zhang) is Color.RED
    entries = len(world.audit_log.log)
    again = world.services.feeds.lab_results(feed, body)
    assert again.accepted == 1 and len(world.audit_log.log) == entries  # the same result: nothing new


@pytest.mark.parametrize("tamper", ["bad", "old", "future", "replayed", "unknown feed", "wrong kind", "missing"])
def test_a_feed_signature_that_is_bad_old_or_replayed_is_refused(world, tamper):
    feed = world.services.feeds.create("lab-1", FeedKind.LAB)
    body = b"[]"
    at = NOW - 301 if tamper == "old" else NOW + 301 if tamper == "future" else NOW
    timestamp, signature = signed(feed, body, at)
    feed_id, kind = "lab-1", FeedKind.LAB
    if tamper == "bad":
        signature = ("1" if signature[0] == "0" else "0") + signature[1:]  # never the same by chance
    elif tamper == "replayed":
        world.services.feeds.authenticate(feed_id, timestamp, signature, body, kind)
    elif tamper == "unknown feed":
        feed_id = "lab-2"
    elif tamper == "wrong kind":
        kind = FeedKind.OPERATOR
    elif tamper == "missing":
        signature = None
    with pytest.raises(BadSignature):
        world.services.feeds.authenticate(feed_id, timestamp, signature, body, kind)


def test_a_feed_signature_within_the_window_passes(world):
    feed = world.services.feeds.create("lab-1", FeedKind.LAB)
    timestamp, signature = signed(feed, b"[]", NOW - 300)
    assert world.services.feeds.authenticate("lab-1", timestamp, signature, b"[]", FeedKind.LAB) == feed


# -- risk areas ----------------------------------------------------------------------------------


def test_risk_areas_are_counties_or_cities_with_a_level(world):
    staff = world.staff()
    area = world.services.risk_areas.set("440304", "high", "某小区", staff)
    assert world.services.risk_areas.current() == {"440304": area}
    assert world.services.risk_areas.elevated_in("440300") and not world.services.risk_areas.elevated_in("440100")
    for code, level in (("440000", "high"), ("999999", "high"), ("440304", "extreme")):
        with pytest.raises(InvalidInput):
            world.services.risk_areas.set(code, level, "", staff)
    world.services.risk_areas.set("440304", "low", "解封", staff)
    assert not world.services.risk_areas.elevated_in("440300")
    assert [a.level for a in world.services.risk_areas.history()] == ["low", "high"]
