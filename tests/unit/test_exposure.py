"""来自中高风险地区: the health code turns yellow for a person whose phone stayed (by the travel
card's 4-hour rule) in a city that holds a medium- or high-risk area now, and back when the area
is lowered, the days run out, or the tests clear it (DESIGN §4)."""
import json

import pytest

from core.feeds import FeedKind
from core.model import Color
from core.persons import Application
from tests.unit.fakes import NOW, World

ZHANG = "11010519491231002X"
HOUR, DAY = 3600, 86400
TIANHE, GUANGZHOU_BAIYUN, FUTIAN = "440106", "440111", "440304"


@pytest.fixture
def world(policy):
    return World(policy=policy)


def apply(world, phone="13800138000"):
    session = world.login("alice")
    return session, world.apply_verified(session, Application("张三", ZHANG, phone, "self"))


def stays(world, *rows):
    feed = world.services.feeds.create("operator-1", FeedKind.OPERATOR)
    body = "\n".join(json.dumps({"phone": phone, "city_code": place, "from": start, "to": end})
                     for phone, place, start, end in rows).encode()
    result = world.services.travel.ingest(feed, body)
    assert result.accepted == len(rows), result.rejected


def shown(world, person):
    session, view = person
    evaluation = world.codes.show(session, view.id).evaluation
    return evaluation.color, tuple(evaluation.reason_codes)


def test_a_stay_in_a_city_with_a_medium_risk_area_turns_the_code_yellow_until_it_is_lowered(world):
    person = apply(world)
    stays(world, ("13800138000", TIANHE, NOW - DAY - 5 * HOUR, NOW - DAY))
    assert shown(world, person) == (Color.GREEN, ())
    world.services.risk_areas.set(GUANGZHOU_BAIYUN, "medium", "某街道", world.staff())  # another district, same city
    assert shown(world, person) == (Color.YELLOW, ("from_risk_area",))
    world.services.risk_areas.set(GUANGZHOU_BAIYUN, "low", "解除", world.staff())
    assert shown(world, person) == (Color.GREEN, ())


def test_passing_through_for_less_than_four_hours_does_not_count(world):
    person = apply(world)
    stays(world, ("13800138000", TIANHE, NOW - 4 * HOUR + 60, NOW))
    world.services.risk_areas.set(TIANHE, "high", "x", world.staff())
    assert shown(world, person) == (Color.GREEN, ())


def test_other_cities_and_other_phones_do_not_count(world):
    person = apply(world)
    stays(world, ("13800138000", FUTIAN, NOW - 6 * HOUR, NOW - HOUR),
          ("13900139000", TIANHE, NOW - 6 * HOUR, NOW - HOUR))
    world.services.risk_areas.set(TIANHE, "high", "x", world.staff())
    assert shown(world, person) == (Color.GREEN, ())


def test_stays_that_came_before_the_application_count_from_it(world):
    stays(world, ("13800138000", TIANHE, NOW - 6 * HOUR, NOW - HOUR))
    world.services.risk_areas.set(TIANHE, "medium", "x", world.staff())
    person = apply(world)
    assert shown(world, person) == (Color.YELLOW, ("from_risk_area",))


def test_the_rule_lapses_seven_days_after_the_stay(world):
    person = apply(world)
    stays(world, ("13800138000", TIANHE, NOW - 6 * HOUR, NOW - HOUR))
    world.services.risk_areas.set(TIANHE, "medium", "x", world.staff())
    world.clock.advance(7 * DAY - HOUR - 1)
    assert shown(world, person)[0] is Color.YELLOW
    world.clock.advance(2)
    assert shown(world, person) == (Color.GREEN, ())


def test_a_new_phone_does_not_carry_the_old_ones_stays(world):
    person = apply(world)
    stays(world, ("13800138000", TIANHE, NOW - 6 * HOUR, NOW - HOUR))
    world.services.risk_areas.set(TIANHE, "medium", "x", world.staff())
    assert shown(world, person)[0] is Color.YELLOW
    session, view = person
    world.persons.update_phone(session, view.id, "13900139000")
    assert shown(world, person) == (Color.GREEN, ())


def test_retiring_the_travel_data_takes_the_visits_too(world):
    person = apply(world)
    stays(world, ("13800138000", TIANHE, NOW - 6 * HOUR, NOW - HOUR))
    world.services.risk_areas.set(TIANHE, "medium", "x", world.staff())
    world.services.travel.retire_data()
    assert shown(world, person) == (Color.GREEN, ())
