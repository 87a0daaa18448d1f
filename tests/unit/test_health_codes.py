"""Showing a code (亮码), scanning it (扫码核验), and the history of colours and scans."""

import pytest

from core.codes import CodeClaims
from core.errors import NotFound
from core.marking import MarkerRequest
from core.model import Color
from core.persons import Application
from tests.unit.fakes import ISSUER, NOW, FakeCodec, World

ZHANG = "11010519491231002X"
DAY = 86400


@pytest.fixture
def alice(world):
    return world.login("alice")


@pytest.fixture
def zhang(world, alice):
    """张三, applied for by alice as her own code."""
    return world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))


def mark(world, kind: str = "close_contact"):
    return world.mark(
        MarkerRequest(kind=kind, reason="case 12", id_number=ZHANG), world.staff()
    )


# -- showing ----------------------------------------------------------------------------------


def test_green_code_has_a_signed_short_lived_qr_with_the_masked_name(world, alice, zhang):
    shown = world.codes.show(alice, zhang.id)
    claims = world.codec.verify(shown.qr)
    assert shown.evaluation.color is Color.GREEN
    assert shown.evaluation.reasons == ()
    assert (shown.issued_at, shown.expires_at) == (NOW, NOW + 60)
    assert (claims.issued_at, claims.expires_at) == (NOW, NOW + 60)
    assert (claims.color, claims.name_masked, claims.issuer) == (Color.GREEN, "张*", ISSUER)
    assert shown.person == zhang


def test_qr_carries_a_pseudonymous_code_id_and_no_id_number(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    claims = FakeCodec.claims_of(qr)
    assert ZHANG not in qr and ZHANG not in str(claims) and zhang.id not in str(claims)
    assert world.code_ids.open(world.codec.verify(qr).code_id) == (zhang.id, NOW)


def test_each_shown_code_has_another_code_id(world, alice, zhang):
    first = world.codec.verify(world.codes.show(alice, zhang.id).qr)
    world.clock.advance(30)
    second = world.codec.verify(world.codes.show(alice, zhang.id).qr)
    assert first.code_id != second.code_id


def test_meaning_is_chinese_first_and_english_on_request(world, alice, zhang):
    assert world.codes.show(alice, zhang.id).meaning == "绿码：可正常通行"
    assert world.codes.show(alice, zhang.id, lang="en").meaning == "Green: normal travel"


def test_marked_person_shows_red_with_the_reason(world, alice, zhang):
    mark(world, "close_contact")
    shown = world.codes.show(alice, zhang.id, lang="en")
    assert shown.evaluation.color is Color.RED
    assert shown.evaluation.reason_codes == ["close_contact"]
    assert shown.evaluation.reasons[0].until == NOW + 14 * DAY
    assert shown.meaning.startswith("Red")
    assert world.codec.verify(shown.qr).color is Color.RED


def test_family_member_shows_the_same_code_as_the_person_themselves(world, alice, zhang):
    mother = world.login("mother")
    world.apply_verified(mother, Application("张三", ZHANG, "13900139000", "family"))
    mark(world, "symptoms")
    assert world.codes.show(mother, zhang.id).evaluation.color is Color.YELLOW
    assert world.codes.show(alice, zhang.id).evaluation.color is Color.YELLOW


def test_someone_elses_person_is_not_found(world, zhang):
    with pytest.raises(NotFound):
        world.codes.show(world.login("bob"), zhang.id)
    with pytest.raises(NotFound):
        world.codes.show(world.login("bob"), "0" * 24)


def test_person_marked_before_applying_is_not_anyones_code_yet(world):
    outcome = mark(world)
    with pytest.raises(NotFound):
        world.codes.show(world.login("alice"), outcome.marker.person_id)


# -- scanning -------------------------------------------------------------------------------------


def test_fresh_code_scans_valid_with_its_colour(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.clock.advance(10)
    result = world.codes.scan(qr, "gate 3")
    assert result.valid is True
    assert (result.color, result.changed, result.name_masked) == (Color.GREEN, False, "张*")
    assert (result.issued_at, result.checked_at) == (NOW, NOW + 10)


def test_code_expires_after_its_lifetime(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.clock.advance(59)
    assert world.codes.scan(qr, "gate 3").valid is True
    world.clock.advance(1)
    result = world.codes.scan(qr, "gate 3")
    assert (result.valid, result.reason, result.color) == (False, "expired", None)


def test_tampered_colour_is_a_bad_signature(world, alice, zhang):
    mark(world, "confirmed")
    qr = world.codes.show(alice, zhang.id).qr
    forged = FakeCodec.with_claims(qr, col="green")
    result = world.codes.scan(forged, "gate 3")
    assert (result.valid, result.reason) == (False, "bad_signature")


def test_extended_expiry_is_a_bad_signature(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.clock.advance(3600)
    forged = FakeCodec.with_claims(qr, exp=NOW + 7200)
    assert world.codes.scan(forged, "gate 3").reason == "bad_signature"


def test_code_signed_with_a_key_no_longer_known_is_refused(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.codec.known_kids = {"k2"}
    assert world.codes.scan(qr, "gate 3").reason == "unknown_key"


@pytest.mark.parametrize("qr", ["", "hello", "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDE"])
def test_text_that_is_not_a_code_is_malformed(world, qr):
    result = world.codes.scan(qr, "gate 3")
    assert (result.valid, result.reason, result.checked_at) == (False, "malformed", NOW)


def test_code_of_another_issuer_is_malformed(world, zhang):
    claims = CodeClaims("CN-OTHER", world.code_ids.seal(zhang.id, NOW), Color.GREEN, NOW, NOW + 60, "张*")
    assert world.codes.scan(world.codec.sign(claims), "gate 3").reason == "malformed"


def test_code_whose_id_does_not_match_its_issue_time_is_malformed(world, zhang):
    claims = CodeClaims(ISSUER, world.code_ids.seal(zhang.id, NOW - 600), Color.GREEN, NOW, NOW + 60, "张*")
    assert world.codes.scan(world.codec.sign(claims), "gate 3").reason == "malformed"


def test_code_issued_green_before_a_red_marker_scans_as_changed(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    mark(world, "close_contact")
    result = world.codes.scan(qr, "gate 3")
    assert (result.valid, result.color, result.changed) == (True, Color.RED, True)


def test_code_issued_red_before_the_marker_was_removed_scans_as_changed(world, alice, zhang):
    marker = mark(world, "close_contact").marker
    qr = world.codes.show(alice, zhang.id).qr
    world.marking.remove_marker(marker.id, "wrong person", world.staff())
    result = world.codes.scan(qr, "gate 3")
    assert (result.color, result.changed) == (Color.GREEN, True)


def test_code_of_a_person_who_erased_their_data_is_revoked(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.persons.unlink(alice, zhang.id)
    result = world.codes.scan(qr, "gate 3")
    assert (result.valid, result.reason) == (False, "revoked")


def test_old_code_stays_revoked_after_reapplying_but_the_new_one_is_valid(world, alice, zhang):
    mark(world, "symptoms")
    old_qr = world.codes.show(alice, zhang.id).qr
    world.clock.advance(5)
    world.persons.unlink(alice, zhang.id)
    world.clock.advance(5)
    again = world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))
    new_qr = world.codes.show(alice, again.id).qr
    assert world.codes.scan(old_qr, "gate 3").reason == "revoked"
    assert world.codes.scan(new_qr, "gate 3").color is Color.YELLOW


# -- history ------------------------------------------------------------------------------------


def test_scans_are_recorded_newest_first(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.codes.scan(qr, "gate 3")
    world.clock.advance(10)
    mark(world, "secondary_contact")
    world.codes.scan(qr, "metro line 1")
    world.clock.advance(60)
    assert world.codes.scan(qr, "mall").reason == "expired"
    scans = world.codes.history(alice, zhang.id).scans
    assert [(s.at - NOW, s.place, s.result) for s in scans] == [  # the expired code is not in it
        (10, "metro line 1", "yellow changed"),
        (0, "gate 3", "green"),
    ]


def test_the_same_code_at_the_same_place_is_recorded_once(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    for _ in range(5):
        assert world.codes.scan(qr, "gate 3").valid
    world.clock.advance(1)
    world.codes.scan(qr, "gate 4")
    fresh = world.codes.show(alice, zhang.id).qr
    world.codes.scan(fresh, "gate 3")
    scans = world.codes.history(alice, zhang.id).scans
    assert [(s.at - NOW, s.place) for s in scans] == [(1, "gate 3"), (1, "gate 4"), (0, "gate 3")]


def test_an_expired_code_of_an_erased_person_scans_as_revoked(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.persons.unlink(alice, zhang.id)
    world.clock.advance(120)
    assert world.codes.scan(qr, "gate 3").reason == "revoked"


def test_refused_codes_leave_no_scan_in_anyones_history(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.codes.scan(FakeCodec.with_claims(qr, col="red"), "gate 3")
    world.codes.scan("hello", "gate 3")
    assert world.codes.history(alice, zhang.id).scans == []


def test_colour_changes_are_recorded_once_not_on_every_read(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.codes.show(alice, zhang.id)
    world.codes.scan(qr, "gate 3")
    world.clock.advance(60)
    mark(world, "close_contact")
    world.codes.show(alice, zhang.id)
    world.codes.show(alice, zhang.id)
    changes = world.codes.history(alice, zhang.id).changes
    assert [(c.at - NOW, c.from_color, c.to_color, c.reason_codes) for c in changes] == [
        (60, "green", "red", ("close_contact",)),
        (0, None, "green", ()),
    ]


def test_colour_that_expires_with_time_is_recorded_when_next_read(world, alice, zhang):
    mark(world, "close_contact")
    world.clock.advance(14 * DAY)
    assert world.codes.show(alice, zhang.id).evaluation.color is Color.GREEN
    latest = world.codes.history(alice, zhang.id).changes[0]
    assert (latest.from_color, latest.to_color, latest.at) == ("red", "green", NOW + 14 * DAY)


def test_history_keeps_only_the_retention_period(world, alice, zhang):
    qr = world.codes.show(alice, zhang.id).qr
    world.codes.scan(qr, "gate 3")
    world.clock.advance(30 * DAY + 1)
    world.codes.show(alice, zhang.id)
    history = world.codes.history(alice, zhang.id)
    assert history.retention_days == 30
    assert history.scans == [] and history.changes == []


def test_history_of_someone_elses_person_is_not_found(world, zhang):
    with pytest.raises(NotFound):
        world.codes.history(world.login("bob"), zhang.id)


def test_erasing_your_data_erases_your_history(world, alice, zhang):
    mark(world, "symptoms")
    world.codes.scan(world.codes.show(alice, zhang.id).qr, "gate 3")
    world.persons.unlink(alice, zhang.id)
    again = world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))
    history = world.codes.history(alice, again.id)
    assert history.scans == [] and history.changes == []


def test_a_longer_code_lifetime_is_honoured(policy):
    world = World(policy=policy, code_ttl=300)
    alice = world.login("alice")
    zhang = world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))
    shown = world.codes.show(alice, zhang.id)
    assert shown.expires_at - shown.issued_at == 300
