"""Authority markers (赋码 / 转码) and lab results: the facts that turn a code yellow or red and back."""

import copy
from dataclasses import replace

import pytest

from core.errors import InvalidInput, Msg, NotFound
from core.marking import MarkerRequest
from core.model import Color
from core.persons import Application
from core.policy import load_policy
from tests.unit.fakes import NOW, World, id_number

ZHANG = "11010519491231002X"
HOUR = 3600
DAY = 24 * HOUR


def request(kind: str = "close_contact", **fields) -> MarkerRequest:
    fields.setdefault("id_number", None if "person_id" in fields else ZHANG)
    return MarkerRequest(kind=kind, reason=fields.pop("reason", "case 12"), **fields)


def colour(world, session, person_id: str) -> Color:
    return world.codes.show(session, person_id).evaluation.color


@pytest.fixture
def authority(world):
    return world.staff("authority")


@pytest.fixture
def alice(world):
    return world.login("alice")


@pytest.fixture
def zhang(world, alice):
    return world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))


# -- adding markers ---------------------------------------------------------------------------------


def test_marker_turns_the_code_red_and_says_before_and_after(world, authority, alice, zhang):
    outcome = world.mark(request("close_contact", reason="shared a flight"), authority)
    assert (outcome.color_before, outcome.color_after) == ("green", "red")
    assert outcome.marker.person_id == zhang.id
    assert (outcome.marker.reason, outcome.marker.created_by) == ("shared a flight", authority.id)
    assert (outcome.marker.since, outcome.marker.until) == (NOW, None)
    assert colour(world, alice, zhang.id) is Color.RED


def test_marking_by_id_number_before_the_person_applies_makes_them_red_on_applying(world, authority, alice):
    outcome = world.mark(request("confirmed"), authority)
    view = world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))
    assert view.id == outcome.marker.person_id
    shown = world.codes.show(alice, view.id)
    assert shown.evaluation.color is Color.RED
    assert shown.evaluation.reason_codes == ["confirmed"]


def test_marking_by_lowercase_x_finds_the_same_person(world, authority, zhang):
    outcome = world.mark(request(id_number=ZHANG.lower()), authority)
    assert outcome.marker.person_id == zhang.id


@pytest.mark.parametrize(
    "number",
    [
        id_number(region="440304", born="19500101"),  # 深圳 福田区, a district younger than its holder
        id_number(region="810000", born="19940823"),  # 港澳台居民居住证
        id_number(region="932682", born="19850101"),  # 外国人永久居留身份证
    ],
)
def test_an_authority_can_mark_every_kind_of_number_and_its_holder_applies_into_it(world, authority, alice, number):
    outcome = world.mark(request("confirmed", id_number=number), authority)
    view = world.apply_verified(alice, Application("李四", number, "13800138000", "self"))
    assert view.id == outcome.marker.person_id
    assert colour(world, alice, view.id) is Color.RED


def test_marking_by_person_id(world, authority, alice, zhang):
    world.mark(request("symptoms", person_id=zhang.id), authority)
    assert colour(world, alice, zhang.id) is Color.YELLOW


def test_marking_an_unknown_person_id_is_not_found(world, authority):
    with pytest.raises(NotFound):
        world.mark(request(person_id="0" * 24), authority)


@pytest.mark.parametrize("who", [{"id_number": None}, {"id_number": ZHANG, "person_id": "0" * 24}])
def test_marker_needs_exactly_one_of_id_number_and_person_id(world, authority, who):
    with pytest.raises(InvalidInput):
        world.mark(MarkerRequest(kind="confirmed", reason="r", **who), authority)


def test_marking_an_invalid_id_number_is_refused_and_creates_nobody(world, authority):
    with pytest.raises(InvalidInput) as caught:
        world.mark(request(id_number="110105194912310020"), authority)
    assert list(caught.value.fields) == ["id_number"]
    assert world.store.persons == {}


def test_unknown_marker_kind_is_invalid_and_creates_nobody(world, authority):
    with pytest.raises(InvalidInput) as caught:
        world.mark(request("zombie"), authority)
    assert caught.value.fields == {"kind": [Msg.ONE_OF]}
    assert caught.value.fields["kind"][0].params == {
        "choices": "close_contact, confirmed, declared_contact, from_risk_area, secondary_contact, symptoms"
    }
    assert world.store.persons == {}


@pytest.mark.parametrize("kind", ["confirmed", "symptoms", "close_contact", "secondary_contact", "from_risk_area"])
@pytest.mark.parametrize("until", [NOW - HOUR, NOW + 2 * DAY], ids=["past", "future"])
def test_explicit_until_is_refused_where_the_policy_decides_the_end(world, authority, kind, until):
    # A confirmed case ends by release, symptoms by a negative test, a close contact after the
    # policy's 14 days: a request's `until` must not turn any of them green or stretch them.
    with pytest.raises(InvalidInput) as caught:
        world.mark(request(kind, until=until), authority)
    assert list(caught.value.fields) == ["until"]
    assert world.store.persons == {} and world.store.markers == {}


class TestKindWhosePolicyAllowsUntil:
    """A policy rule with `until_allowed` lets an authority end markers of that kind at a given time."""

    @pytest.fixture
    def world(self, policy_doc):
        doc = copy.deepcopy(policy_doc)
        doc["markers"]["close_contact"]["until_allowed"] = True
        return World(policy=load_policy(doc))

    def test_explicit_until_ends_the_marker(self, world, authority, alice, zhang):
        outcome = world.mark(request("close_contact", until=NOW + 2 * DAY), authority)
        assert outcome.until == NOW + 2 * DAY
        assert colour(world, alice, zhang.id) is Color.RED
        world.clock.advance(2 * DAY)
        assert colour(world, alice, zhang.id) is Color.GREEN

    def test_other_kinds_still_refuse_it(self, world, authority):
        with pytest.raises(InvalidInput) as caught:
            world.mark(request("confirmed", until=NOW + 2 * DAY), authority)
        assert list(caught.value.fields) == ["until"]

    @pytest.mark.parametrize("until", [NOW - DAY, NOW - 1, NOW])
    def test_until_not_after_since_is_invalid(self, world, authority, until):
        with pytest.raises(InvalidInput) as caught:
            world.mark(request(since=NOW, until=until), authority)
        assert caught.value.fields == {"until": [Msg.AFTER_SINCE]}
        assert world.store.markers == {}

    def test_until_in_the_past_without_since_is_invalid(self, world, authority):
        with pytest.raises(InvalidInput) as caught:
            world.mark(request(until=NOW - HOUR), authority)
        assert caught.value.fields == {"until": [Msg.AFTER_SINCE]}


def test_backdated_marker_expires_from_its_since(world, authority, alice, zhang):
    world.mark(request("close_contact", since=NOW - 13 * DAY), authority)
    assert colour(world, alice, zhang.id) is Color.RED
    world.clock.advance(DAY)
    assert colour(world, alice, zhang.id) is Color.GREEN


def test_marker_starting_tomorrow_leaves_the_code_green_today(world, authority, alice, zhang):
    outcome = world.mark(request("close_contact", since=NOW + DAY), authority)
    assert outcome.color_after == "green"
    world.clock.advance(DAY)
    assert colour(world, alice, zhang.id) is Color.RED


def test_marking_is_recorded_once_in_the_persons_history(world, authority, alice, zhang):
    world.codes.show(alice, zhang.id)
    world.clock.advance(60)
    world.mark(request("close_contact"), authority)
    world.codes.show(alice, zhang.id)
    latest, *older = world.codes.history(alice, zhang.id).changes
    assert (latest.at, latest.from_color, latest.to_color, latest.reason_codes) == (
        NOW + 60,
        "green",
        "red",
        ("close_contact",),
    )
    assert len(older) == 1


def test_manual_red_marker_is_pending_until_a_second_authority_approves(world, authority, zhang):
    outcome = world.marking.add_marker(request("confirmed"), authority)
    assert outcome.marker.status == "pending"
    assert outcome.color_after == "green"


# -- removing markers --------------------------------------------------------------------------------


def test_removing_the_marker_restores_green(world, authority, alice, zhang):
    marker = world.mark(request("confirmed"), authority).marker
    world.clock.advance(HOUR)
    outcome = world.marking.remove_marker(marker.id, "recovered", authority)
    assert outcome.marker == replace(marker, status="removed")  # never reported as still active
    assert outcome.removed_at == NOW + HOUR
    assert (outcome.color_before, outcome.color_after) == ("red", "green")
    assert colour(world, alice, zhang.id) is Color.GREEN


def test_removing_one_marker_keeps_the_others(world, authority, alice, zhang):
    red = world.mark(request("confirmed"), authority).marker
    world.mark(request("symptoms"), authority)
    assert world.marking.remove_marker(red.id, "mistake", authority).color_after == "yellow"
    assert colour(world, alice, zhang.id) is Color.YELLOW


def test_removing_a_marker_twice_is_not_found(world, authority, zhang):
    marker = world.mark(request("confirmed"), authority).marker
    world.marking.remove_marker(marker.id, "recovered", authority)
    with pytest.raises(NotFound):
        world.marking.remove_marker(marker.id, "again", authority)


@pytest.mark.parametrize(
    "marker_id", ["", "nope", "0" * 24, "0" * 24 + ".", "short.abcd", "0" * 24 + ".abcd"]
)
def test_removing_an_unknown_marker_is_not_found(world, authority, marker_id):
    with pytest.raises(NotFound):
        world.marking.remove_marker(marker_id, "r", authority)


# -- lab results --------------------------------------------------------------------------------------


def test_positive_result_turns_the_code_red(world, alice, zhang):
    assert world.marking.add_lab_result(ZHANG, NOW - HOUR, "positive", "lab-1") == "red"
    shown = world.codes.show(alice, zhang.id)
    assert shown.evaluation.reason_codes == ["positive_test"]


def test_positive_result_is_cleared_by_two_negatives_24_hours_apart(world, alice, zhang):
    world.marking.add_lab_result(ZHANG, NOW, "positive", "lab-1")
    world.clock.advance(2 * HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW + HOUR, "negative", "lab-1") == "red"
    world.clock.advance(DAY)
    assert world.marking.add_lab_result(ZHANG, NOW + 25 * HOUR, "negative", "lab-1") == "green"
    assert colour(world, alice, zhang.id) is Color.GREEN


def test_negatives_clear_a_secondary_contact_per_policy(world, authority, alice, zhang):
    world.mark(request("secondary_contact"), authority)
    world.clock.advance(2 * HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW + HOUR, "negative", "lab-1") == "yellow"
    world.clock.advance(22 * HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW + 24 * HOUR, "negative", "lab-1") == "yellow"
    world.clock.advance(HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW + 25 * HOUR, "negative", "lab-1") == "green"


def test_one_negative_clears_symptoms(world, authority, alice, zhang):
    world.mark(request("symptoms"), authority)
    world.clock.advance(HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW + HOUR - 60, "negative", "lab-1") == "green"


def test_negative_sampled_before_the_marker_does_not_clear_it(world, authority, alice, zhang):
    world.mark(request("symptoms"), authority)
    world.clock.advance(HOUR)
    assert world.marking.add_lab_result(ZHANG, NOW - 60, "negative", "lab-1") == "yellow"


def test_lab_result_before_the_person_applies_counts_once_they_do(world, alice):
    world.marking.add_lab_result(ZHANG, NOW - HOUR, "positive", "lab-1")
    view = world.apply_verified(alice, Application("张三", ZHANG, "13800138000", "self"))
    assert colour(world, alice, view.id) is Color.RED


@pytest.mark.parametrize("result", ["", "NEGATIVE", "inconclusive"])
def test_unknown_lab_result_is_invalid_and_stores_nothing(world, result):
    with pytest.raises(InvalidInput) as caught:
        world.marking.add_lab_result(ZHANG, NOW, result, "lab-1")
    assert list(caught.value.fields) == ["result"]
    assert world.store.persons == {} and world.store.labs == {}


def test_result_sampled_in_the_future_is_invalid(world):
    world.marking.add_lab_result(ZHANG, NOW + 300, "negative", "lab-1")  # five minutes of clock skew
    with pytest.raises(InvalidInput) as caught:
        world.marking.add_lab_result(ZHANG, NOW + 301, "negative", "lab-1")
    assert list(caught.value.fields) == ["sampled_at"]


def test_lab_result_for_an_invalid_id_number_is_refused(world):
    with pytest.raises(InvalidInput):
        world.marking.add_lab_result(id_number(region="999999"), NOW, "positive", "lab-1")
    assert world.store.persons == {}
