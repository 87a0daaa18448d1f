"""derive_color under the shipped policy: which facts colour a code, for how long, and why."""

import itertools

import pytest

from core.color import derive_color
from core.model import Color, Facts, LabResult, Marker

HOUR = 3600
DAY = 24 * HOUR
T0 = 1_780_000_000  # when the marker or the positive sample happened

_ids = itertools.count()


def marker(kind: str, since: int = T0, until: int | None = None, status: str = "active") -> Marker:
    return Marker(f"m{next(_ids)}", "p1", kind, "test", since, until, "authority-1", status)


def negative(at: int) -> LabResult:
    return LabResult(sampled_at=at, result="negative", lab="lab-1")


def positive(at: int) -> LabResult:
    return LabResult(sampled_at=at, result="positive", lab="lab-1")


def color_at(policy, now: int, *facts: Marker | LabResult) -> Color:
    return evaluate(policy, now, *facts).color


def evaluate(policy, now: int, *facts: Marker | LabResult):
    markers = tuple(f for f in facts if isinstance(f, Marker))
    labs = tuple(f for f in facts if isinstance(f, LabResult))
    return derive_color(Facts(markers=markers, lab_results=labs), policy, now)


# -- no facts ---------------------------------------------------------------------------------


def test_no_facts_is_green_without_reasons(policy):
    evaluation = evaluate(policy, T0)
    assert evaluation.color is Color.GREEN
    assert evaluation.reasons == ()
    assert evaluation.policy_version == policy.version


def test_negative_results_alone_are_green(policy):
    assert evaluate(policy, T0 + DAY, negative(T0), negative(T0 + 2 * HOUR)).reasons == ()


# -- confirmed ----------------------------------------------------------------------------------


def test_confirmed_is_red_until_removed(policy):
    confirmed = marker("confirmed")
    for later in (0, 14 * DAY, 365 * DAY):
        evaluation = evaluate(policy, T0 + later, confirmed)
        assert evaluation.color is Color.RED
        assert evaluation.reason_codes == ["confirmed"]
        assert evaluation.reasons[0].until is None


def test_confirmed_is_not_cleared_by_negative_tests(policy):
    facts = [marker("confirmed"), negative(T0 + HOUR), negative(T0 + 2 * DAY), negative(T0 + 4 * DAY)]
    assert color_at(policy, T0 + 5 * DAY, *facts) is Color.RED


# -- close contact ----------------------------------------------------------------------------


def test_close_contact_is_red_for_14_days(policy):
    contact = marker("close_contact")
    evaluation = evaluate(policy, T0, contact)
    assert evaluation.color is Color.RED
    assert evaluation.reasons[0].until == T0 + 14 * DAY
    assert color_at(policy, T0 + 14 * DAY - 1, contact) is Color.RED
    assert color_at(policy, T0 + 14 * DAY, contact) is Color.GREEN


def test_close_contact_is_not_cleared_by_negative_tests(policy):
    facts = [marker("close_contact"), negative(T0 + HOUR), negative(T0 + 2 * DAY)]
    assert color_at(policy, T0 + 3 * DAY, *facts) is Color.RED


# -- yellow markers cleared by tests or time ------------------------------------------------------

YELLOW_BY_TWO_TESTS = ["secondary_contact", "from_risk_area"]


@pytest.mark.parametrize("kind", YELLOW_BY_TWO_TESTS)
def test_yellow_marker_lasts_7_days(policy, kind):
    flagged = marker(kind)
    evaluation = evaluate(policy, T0, flagged)
    assert evaluation.color is Color.YELLOW
    assert evaluation.reason_codes == [kind]
    assert evaluation.reasons[0].until == T0 + 7 * DAY
    assert color_at(policy, T0 + 7 * DAY - 1, flagged) is Color.YELLOW
    assert color_at(policy, T0 + 7 * DAY, flagged) is Color.GREEN


@pytest.mark.parametrize("kind", YELLOW_BY_TWO_TESTS)
def test_yellow_marker_is_cleared_by_two_negatives_24_hours_apart(policy, kind):
    facts = [marker(kind), negative(T0 + HOUR), negative(T0 + 25 * HOUR)]
    assert color_at(policy, T0 + 25 * HOUR - 1, *facts) is Color.YELLOW
    assert color_at(policy, T0 + 25 * HOUR, *facts) is Color.GREEN


@pytest.mark.parametrize("kind", YELLOW_BY_TWO_TESTS)
def test_yellow_marker_is_not_cleared_by_two_negatives_23_hours_apart(policy, kind):
    facts = [marker(kind), negative(T0 + HOUR), negative(T0 + 24 * HOUR)]
    assert color_at(policy, T0 + 2 * DAY, *facts) is Color.YELLOW


@pytest.mark.parametrize("kind", YELLOW_BY_TWO_TESTS)
def test_yellow_marker_is_not_cleared_by_negatives_sampled_before_it(policy, kind):
    facts = [negative(T0 - 2 * DAY), negative(T0 - DAY), negative(T0), marker(kind)]
    assert color_at(policy, T0 + DAY, *facts) is Color.YELLOW


def test_negative_sampled_in_the_same_second_as_the_marker_does_not_count(policy):
    facts = [marker("secondary_contact"), negative(T0), negative(T0 + 24 * HOUR)]
    assert color_at(policy, T0 + 2 * DAY, *facts) is Color.YELLOW


def test_one_negative_before_and_one_after_do_not_clear(policy):
    facts = [negative(T0 - 30 * HOUR), marker("secondary_contact"), negative(T0 + HOUR)]
    assert color_at(policy, T0 + 2 * DAY, *facts) is Color.YELLOW


def test_a_third_negative_24_hours_after_the_first_clears_despite_one_too_close(policy):
    facts = [
        marker("from_risk_area"),
        negative(T0 + HOUR),
        negative(T0 + 10 * HOUR),
        negative(T0 + 25 * HOUR),
    ]
    assert color_at(policy, T0 + 26 * HOUR, *facts) is Color.GREEN


def test_negatives_sampled_after_now_do_not_clear_yet(policy):
    facts = [marker("secondary_contact"), negative(T0 + HOUR), negative(T0 + 25 * HOUR)]
    assert color_at(policy, T0 + 2 * HOUR, *facts) is Color.YELLOW


def test_symptoms_are_yellow_until_one_negative_after_them(policy):
    facts = [marker("symptoms"), negative(T0 - HOUR)]
    assert color_at(policy, T0 + 30 * DAY, *facts) is Color.YELLOW
    assert evaluate(policy, T0, *facts).reasons[0].until is None
    assert color_at(policy, T0 + HOUR, *facts, negative(T0 + HOUR)) is Color.GREEN


# -- positive lab results ------------------------------------------------------------------------


def test_positive_result_is_red_with_the_positive_test_reason(policy):
    evaluation = evaluate(policy, T0 + HOUR, positive(T0))
    assert evaluation.color is Color.RED
    assert evaluation.reason_codes == ["positive_test"]
    assert evaluation.reasons[0].since == T0
    assert evaluation.reasons[0].marker_id is None


def test_positive_is_cleared_by_two_negatives_24_hours_apart_after_it(policy):
    facts = [positive(T0), negative(T0 + HOUR), negative(T0 + 25 * HOUR)]
    assert color_at(policy, T0 + 25 * HOUR - 1, *facts) is Color.RED
    assert color_at(policy, T0 + 25 * HOUR, *facts) is Color.GREEN


def test_positive_is_not_cleared_by_negatives_23_hours_apart(policy):
    facts = [positive(T0), negative(T0 + HOUR), negative(T0 + 24 * HOUR)]
    assert color_at(policy, T0 + 3 * DAY, *facts) is Color.RED


def test_positive_is_not_cleared_by_negatives_sampled_before_it(policy):
    facts = [negative(T0 - 2 * DAY), negative(T0 - DAY), positive(T0)]
    assert color_at(policy, T0 + DAY, *facts) is Color.RED


def test_positive_after_negatives_restarts_the_count(policy):
    facts = [positive(T0), negative(T0 + HOUR), positive(T0 + 2 * HOUR), negative(T0 + 26 * HOUR)]
    evaluation = evaluate(policy, T0 + 27 * HOUR, *facts)
    assert evaluation.color is Color.RED
    assert evaluation.reasons[0].since == T0 + 2 * HOUR
    assert color_at(policy, T0 + 51 * HOUR, *facts, negative(T0 + 50 * HOUR)) is Color.GREEN


def test_new_positive_after_being_cleared_is_red_again(policy):
    facts = [positive(T0), negative(T0 + HOUR), negative(T0 + 25 * HOUR)]
    assert color_at(policy, T0 + 2 * DAY, *facts) is Color.GREEN
    assert color_at(policy, T0 + 3 * DAY, *facts, positive(T0 + 3 * DAY)) is Color.RED


def test_positive_sampled_after_now_does_not_count_yet(policy):
    assert color_at(policy, T0, positive(T0 + 60)) is Color.GREEN


def test_positive_after_a_yellow_marker_restarts_its_negative_count(policy):
    facts = [
        marker("secondary_contact"),
        negative(T0 + HOUR),
        positive(T0 + 2 * HOUR),
        negative(T0 + 26 * HOUR),
    ]
    evaluation = evaluate(policy, T0 + 27 * HOUR, *facts)
    assert evaluation.reason_codes == ["positive_test", "secondary_contact"]


def test_negative_after_a_positive_clears_symptoms_but_not_the_positive(policy):
    facts = [marker("symptoms"), positive(T0 + HOUR), negative(T0 + 2 * HOUR)]
    evaluation = evaluate(policy, T0 + 3 * HOUR, *facts)
    assert evaluation.reason_codes == ["positive_test"]


# -- several reasons ------------------------------------------------------------------------------


def test_red_beats_yellow_and_reasons_are_most_severe_first(policy):
    facts = [
        marker("symptoms", since=T0 - DAY),
        marker("secondary_contact", since=T0 - 2 * DAY),
        marker("confirmed"),
    ]
    evaluation = evaluate(policy, T0 + HOUR, *facts)
    assert evaluation.color is Color.RED
    assert evaluation.reason_codes == ["confirmed", "secondary_contact", "symptoms"]


def test_reasons_of_equal_severity_are_oldest_first(policy):
    facts = [marker("close_contact", since=T0), positive(T0 - DAY)]
    assert evaluate(policy, T0 + HOUR, *facts).reason_codes == ["positive_test", "close_contact"]


def test_when_red_expires_the_remaining_yellow_shows(policy):
    facts = [marker("close_contact"), marker("symptoms")]
    evaluation = evaluate(policy, T0 + 14 * DAY, *facts)
    assert evaluation.color is Color.YELLOW
    assert evaluation.reason_codes == ["symptoms"]


def test_reason_carries_its_marker_and_rule(policy):
    contact = marker("close_contact")
    reason = evaluate(policy, T0, contact).reasons[0]
    assert reason.marker_id == contact.id
    assert reason.rule is policy.markers["close_contact"]
    assert reason.since == T0


# -- marker fields ----------------------------------------------------------------------------------


def test_explicit_until_is_honoured_over_the_policy_duration(policy):
    short = marker("close_contact", until=T0 + 3 * DAY)
    assert evaluate(policy, T0, short).reasons[0].until == T0 + 3 * DAY
    assert color_at(policy, T0 + 3 * DAY - 1, short) is Color.RED
    assert color_at(policy, T0 + 3 * DAY, short) is Color.GREEN


def test_explicit_until_ends_a_marker_without_duration(policy):
    confirmed = marker("confirmed", until=T0 + 30 * DAY)
    assert color_at(policy, T0 + 30 * DAY - 1, confirmed) is Color.RED
    assert color_at(policy, T0 + 30 * DAY, confirmed) is Color.GREEN


def test_explicit_until_does_not_stop_clearing_by_tests(policy):
    facts = [marker("secondary_contact", until=T0 + 20 * DAY), negative(T0 + HOUR), negative(T0 + 25 * HOUR)]
    assert color_at(policy, T0 + 2 * DAY, *facts) is Color.GREEN


def test_marker_with_a_future_since_is_not_active_yet(policy):
    later = marker("close_contact", since=T0 + DAY)
    assert color_at(policy, T0, later) is Color.GREEN
    assert color_at(policy, T0 + DAY, later) is Color.RED


def test_unknown_marker_kind_is_ignored(policy):
    evaluation = evaluate(policy, T0, marker("vaccinated"), marker("quarantine_hotel"))
    assert evaluation.color is Color.GREEN
    assert evaluation.reasons == ()


@pytest.mark.parametrize("status", ["pending", "removed"])
def test_marker_that_is_not_active_is_ignored(policy, status):
    assert color_at(policy, T0, marker("confirmed", status=status)) is Color.GREEN
