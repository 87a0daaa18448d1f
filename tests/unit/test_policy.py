"""The colour policy is data: the shipped file loads, and a broken document says what is wrong."""

import copy

import pytest

from core.model import Color
from core.policy import NegativeTests, PolicyError, load_policy


def _broken(doc: dict, edit) -> str:
    doc = copy.deepcopy(doc)
    edit(doc)
    with pytest.raises(PolicyError) as caught:
        load_policy(doc)
    return str(caught.value)


def test_shipped_policy_loads_with_every_marker_kind(policy):
    assert policy.version == "2026-12-01.1"
    assert set(policy.markers) == {
        "confirmed",
        "close_contact",
        "secondary_contact",
        "from_risk_area",
        "symptoms",
        "declared_contact",
    }
    assert {kind for kind, rule in policy.markers.items() if rule.self_declared} == {"symptoms", "declared_contact"}
    assert policy.approval_hours == 24
    assert policy.positive_test.color is Color.RED


def test_shipped_policy_rules_match_the_published_ways_back_to_green(policy):
    assert policy.markers["confirmed"].duration_days is None
    assert policy.markers["confirmed"].negative_tests is None
    assert policy.markers["close_contact"].duration_days == 14
    assert policy.markers["secondary_contact"].negative_tests == NegativeTests(count=2, min_gap_hours=24)
    assert policy.markers["symptoms"].negative_tests == NegativeTests(count=1, min_gap_hours=0)
    assert policy.positive_test.negative_tests == NegativeTests(count=2, min_gap_hours=24)


def test_shipped_policy_has_chinese_and_english_meanings(policy):
    assert policy.meanings[Color.RED].get("zh").startswith("红码")
    assert policy.meanings[Color.RED].get("en").startswith("Red")
    assert policy.meanings[Color.GREEN].get("fr") == policy.meanings[Color.GREEN].zh


def test_policy_without_a_version_is_refused(policy_doc):
    assert _broken(policy_doc, lambda doc: doc.pop("version")) == "policy needs a string 'version'"


@pytest.mark.parametrize("version", [3, None, ["2026"]])
def test_policy_with_a_version_that_is_not_a_string_is_refused(policy_doc, version):
    assert _broken(policy_doc, lambda doc: doc.update(version=version)) == "policy needs a string 'version'"


@pytest.mark.parametrize("doc", [None, [], "policy"])
def test_policy_that_is_not_an_object_is_refused(doc):
    with pytest.raises(PolicyError, match="version"):
        load_policy(doc)


def test_unknown_colour_is_refused_naming_the_rule(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"]["close_contact"].update(color="orange"))
    assert message == "close_contact: color must be one of green, yellow, red"


def test_missing_colour_is_refused_naming_the_rule(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"]["symptoms"].pop("color"))
    assert message.startswith("symptoms: color")


def test_green_rule_is_refused(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"]["symptoms"].update(color="green"))
    assert message == "symptoms: a rule must colour yellow or red"


@pytest.mark.parametrize("duration", [0, -1, "14", 1.5])
def test_bad_duration_is_refused(policy_doc, duration):
    message = _broken(policy_doc, lambda doc: doc["markers"]["close_contact"].update(duration_days=duration))
    assert message == "close_contact: duration_days must be a positive integer"


@pytest.mark.parametrize("tests", [{}, {"count": 0}, {"count": 2, "min_gap_hours": -1}, {"count": "2"}])
def test_bad_negative_tests_are_refused(policy_doc, tests):
    message = _broken(policy_doc, lambda doc: doc["markers"]["symptoms"].update(negative_tests=tests))
    assert message.startswith("symptoms: negative_tests needs count")


def test_missing_rule_text_is_refused_naming_the_field(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"]["confirmed"].pop("text"))
    assert message == "confirmed.text: needs non-empty 'zh' and 'en' texts"


def test_empty_english_how_to_clear_is_refused(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"]["confirmed"]["how_to_clear"].update(en=""))
    assert message.startswith("confirmed.how_to_clear")


def test_missing_meaning_of_a_colour_is_refused(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["meanings"].pop("yellow"))
    assert message.startswith("meanings.yellow")


@pytest.mark.parametrize("markers", [None, {}, ["confirmed"]])
def test_policy_without_markers_is_refused(policy_doc, markers):
    assert _broken(policy_doc, lambda doc: doc.update(markers=markers)) == "policy needs 'markers'"


def test_rule_that_is_not_an_object_is_refused(policy_doc):
    message = _broken(policy_doc, lambda doc: doc["markers"].update(confirmed="red"))
    assert message == "confirmed: must be an object"


def test_policy_without_a_positive_test_rule_is_refused(policy_doc):
    message = _broken(policy_doc, lambda doc: doc.pop("lab_results"))
    assert message.startswith("positive_test")


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["markers"]["symptoms"].update(negative_tests=1),
        lambda doc: doc.update(meanings=["green", "yellow", "red"]),
        lambda doc: doc.update(lab_results="positive"),
    ],
    ids=["negative_tests", "meanings", "lab_results"],
)
def test_section_that_is_not_an_object_is_refused(policy_doc, edit):
    _broken(policy_doc, edit)


@pytest.mark.parametrize(
    "edit",
    [
        lambda doc: doc["markers"]["close_contact"].update(duration_days=True),
        lambda doc: doc["markers"]["symptoms"].update(negative_tests={"count": True}),
    ],
    ids=["duration_days", "count"],
)
def test_boolean_where_a_number_belongs_is_refused(policy_doc, edit):
    _broken(policy_doc, edit)


def test_an_explicit_until_is_allowed_for_no_shipped_kind(policy):
    # Release, tests or the policy's duration end each kind; an authority's `until` does not.
    assert not any(rule.until_allowed for rule in policy.markers.values())


def test_until_allowed_is_read_from_the_rule(policy_doc):
    doc = copy.deepcopy(policy_doc)
    doc["markers"]["from_risk_area"]["until_allowed"] = True
    assert load_policy(doc).markers["from_risk_area"].until_allowed is True


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_until_allowed_that_is_not_a_boolean_is_refused(policy_doc, value):
    message = _broken(policy_doc, lambda doc: doc["markers"]["close_contact"].update(until_allowed=value))
    assert message == "close_contact: until_allowed must be true or false"
