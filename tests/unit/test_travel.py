"""The travel card's rule and its phone proof: the 4-hour rule, the window, the star, the colour,
SMS codes (5 minutes, 5 tries), and why a card is empty."""
import pytest

from core.errors import InvalidInput, Retired, Unauthorized
from core.stays import CardCity, Stay, card_cities, card_color, shipped_travel_policy
from core.travel import country_name
from tests.unit.fakes import NOW, World

HOUR, DAY = 3600, 86400
POLICY = shipped_travel_policy()
SHENZHEN, FUTIAN, GUANGZHOU, BEIJING_CHAOYANG = "440300", "440304", "440100", "110105"


def cities(stays, now=NOW, policy=POLICY, elevated=lambda city: None):
    return card_cities(stays, now, policy, elevated, country_name)


def test_stays_of_four_hours_or_more_in_a_city_are_listed_and_split_stays_add_up():
    listed = cities([Stay(FUTIAN, NOW - 10 * HOUR, NOW - 8 * HOUR), Stay(SHENZHEN, NOW - 5 * HOUR, NOW - 3 * HOUR)])
    assert [(c.code, c.name, c.last_seen) for c in listed] == [(SHENZHEN, "广东省深圳市", NOW - 3 * HOUR)]


def test_three_hours_fifty_nine_minutes_is_not_enough():
    assert cities([Stay(GUANGZHOU, NOW - 4 * HOUR, NOW - 60)]) == ()
    assert [c.code for c in cities([Stay(GUANGZHOU, NOW - 4 * HOUR, NOW)])] == [GUANGZHOU]


def test_overlapping_reports_of_one_stay_count_once():
    assert cities([Stay(GUANGZHOU, NOW - 3 * HOUR, NOW), Stay(GUANGZHOU, NOW - 3 * HOUR, NOW)]) == ()


@pytest.mark.parametrize("ended_days_ago, hours_inside, listed", [(13.5, 4, True), (14, 0, False)])
def test_only_the_part_inside_the_window_counts(ended_days_ago, hours_inside, listed):
    end = NOW - int(ended_days_ago * DAY)
    stay = Stay(GUANGZHOU, end - 24 * HOUR, end)
    assert bool(cities([stay])) is listed


def test_a_stay_straddling_the_window_edge_counts_from_the_edge():
    edge = NOW - 14 * DAY
    assert cities([Stay(GUANGZHOU, edge - 10 * HOUR, edge + 3 * HOUR)]) == ()
    assert cities([Stay(GUANGZHOU, edge - 10 * HOUR, edge + 4 * HOUR)]) != ()


def test_newest_first_municipalities_and_abroad():
    listed = cities([Stay(GUANGZHOU, NOW - 30 * HOUR, NOW - 20 * HOUR), Stay(BEIJING_CHAOYANG, NOW - 8 * HOUR, NOW),
                     Stay("JP", NOW - 3 * DAY, NOW - 2 * DAY)])
    assert [(c.code, c.name, c.overseas) for c in listed] == [
        ("110000", "北京市", False), (GUANGZHOU, "广东省广州市", False), ("JP", "日本", True)]


def test_the_star_follows_the_risk_now_and_the_colour_the_policy():
    stays = [Stay(FUTIAN, NOW - 6 * HOUR, NOW), Stay(GUANGZHOU, NOW - 2 * DAY, NOW - DAY)]
    none = cities(stays)
    assert [c.starred for c in none] == [False, False] and card_color(none, POLICY, lambda c: None).color == "green"
    medium = lambda city: "medium" if city == SHENZHEN else None  # noqa: E731
    starred = cities(stays, elevated=medium)
    assert [c.starred for c in starred] == [True, False] and card_color(starred, POLICY, medium).color == "orange"
    high = lambda city: "high" if city == GUANGZHOU else None  # noqa: E731
    assert card_color(cities(stays, elevated=high), POLICY, high).color == "red"
    abroad = [CardCity("JP", "日本", False, NOW, overseas=True)]
    assert card_color(abroad, POLICY, lambda c: None).color == "yellow"


def test_a_policy_without_the_star_stars_nothing():
    from dataclasses import replace

    no_star = replace(POLICY, star=False)
    listed = cities([Stay(FUTIAN, NOW - 6 * HOUR, NOW)], policy=no_star, elevated=lambda c: "high")
    assert listed[0].starred is False


def test_a_seven_day_window_as_from_2022_07_08():
    from dataclasses import replace

    seven = replace(POLICY, window_days=7)
    assert cities([Stay(GUANGZHOU, NOW - 9 * DAY, NOW - 8 * DAY)], policy=seven) == ()


# -- the service -------------------------------------------------------------------------------


@pytest.fixture
def world(policy):
    return World(policy=policy)


def test_an_sms_code_proves_the_phone_once(world):
    travel = world.services.travel
    travel.send_code("138 0013 8000")
    phone, code = world.sms.sent[-1]
    assert phone == "+8613800138000" and len(code) == 6 and code.isdigit()
    session = travel.session_by_code("13800138000", code)
    assert session.token and session.expires_in == 1800
    with pytest.raises(InvalidInput):
        travel.session_by_code("13800138000", code)  # used up


def test_a_code_expires_after_five_minutes(world):
    world.services.travel.send_code("13800138000")
    code = world.sms.sent[-1][1]
    world.clock.advance(300)
    with pytest.raises(InvalidInput) as caught:
        world.services.travel.session_by_code("13800138000", code)
    assert caught.value.message == "sms_code_none"


def test_five_wrong_tries_use_the_code_up(world):
    world.services.travel.send_code("13800138000")
    code = world.sms.sent[-1][1]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(4):
        with pytest.raises(InvalidInput, match="sms_code_wrong"):
            world.services.travel.session_by_code("13800138000", wrong)
    with pytest.raises(InvalidInput, match="sms_code_exhausted"):
        world.services.travel.session_by_code("13800138000", wrong)
    with pytest.raises(InvalidInput, match="sms_code_none"):
        world.services.travel.session_by_code("13800138000", code)  # even the right one: ask again


def test_codes_are_stored_only_as_keyed_hashes(world):
    world.services.travel.send_code("13800138000")
    code = world.sms.sent[-1][1]
    assert code not in repr(world.services.travel._codes.codes)


def test_an_empty_card_says_why(world):
    travel = world.services.travel
    travel.send_code("13800138000")
    token = travel.session_by_code("13800138000", world.sms.sent[-1][1]).token
    assert travel.card(token).empty_reason == "no_data"
    ph = travel.phone_hash("+8613800138000")
    world.stays.add([(ph, Stay(GUANGZHOU, NOW - 2 * HOUR, NOW - HOUR))], {}, 14 * DAY, NOW)
    card = travel.card(token)
    assert card.empty_reason == "none_in_window" and card.cities == () and card.phone_masked == "138****8000"
    with pytest.raises(Unauthorized):
        travel.card("nope")


def test_a_retired_card_answers_nothing(world):
    world.services.travel.retired = True
    with pytest.raises(Retired):
        world.services.travel.send_code("13800138000")


def card_for(world, phone="13800138000"):
    travel = world.services.travel
    travel.send_code(phone)
    token = travel.session_by_code(phone, world.sms.sent[-1][1]).token
    return lambda: travel.card(token)


def test_the_cards_star_and_colour_follow_a_risk_area_set_after_it_was_read(world):
    card = card_for(world)
    ph = world.services.travel.phone_hash("+8613800138000")
    world.stays.add([(ph, Stay(FUTIAN, NOW - 6 * HOUR, NOW - HOUR)), (ph, Stay(GUANGZHOU, NOW - 2 * DAY,
                                                                             NOW - DAY))], {}, 14 * DAY, NOW)
    assert [(c.code, c.starred) for c in card().cities] == [(SHENZHEN, False), (GUANGZHOU, False)]
    world.services.risk_areas.set("440106", "high", "某街道", world.staff())  # a district of Guangzhou
    shown = card()
    assert [(c.code, c.starred) for c in shown.cities] == [(SHENZHEN, False), (GUANGZHOU, True)]
    assert shown.color == "red"
    world.services.risk_areas.set("440106", "medium", "降级", world.staff())
    assert card().color == "orange"
    world.services.risk_areas.set("440106", "low", "解除", world.staff())
    assert not any(c.starred for c in card().cities) and card().color == "green"


def test_a_risk_area_set_by_another_process_reaches_the_table_within_its_refresh():
    from core.model import RiskArea
    from core.risk import RiskTable
    from tests.unit.fakes_authority import FakeRiskAreas

    areas, clock = FakeRiskAreas(), [100.0]
    table = RiskTable(areas, refresh_seconds=1.0, monotonic=lambda: clock[0])
    assert table.level_of_city(GUANGZHOU) is None
    areas.set(RiskArea("440106", "high", "", NOW, "other"))  # written by another worker
    clock[0] += 0.5
    assert table.level_of_city(GUANGZHOU) is None  # this process's table, checked at most once a second
    clock[0] += 0.5
    assert table.level_of_city(GUANGZHOU) == "high" and table.level_of_city(SHENZHEN) is None


def test_the_texts_follow_the_window_and_the_star_note_goes_with_the_star():
    from dataclasses import replace

    policy = replace(shipped_travel_policy(), window_days=7)
    assert policy.words(policy.rules[0].text, "zh").startswith("7天内") and "14" not in policy.note_for("zh")
    assert "*" in policy.note_for("zh") and "*" in policy.note_for("en")
    unstarred = replace(policy, star=False)
    assert "*" not in unstarred.note_for("zh") and "7 days" in unstarred.note_for("en")


def test_a_text_with_an_unknown_placeholder_is_refused():
    import json

    from core.policy import PolicyError
    from core.stays import SHIPPED, load_travel_policy

    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    doc["note"]["zh"] = "前{weeks}周"
    with pytest.raises(PolicyError, match="days"):
        load_travel_policy(doc)
