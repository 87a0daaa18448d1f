"""The code cache (HEALTHCODE_CODE_CACHE): a read again within the code's life gets the answer
already signed, and never once anything it was built from changed, nor for more than half the
code's life, nor past the first moment time alone could change the colour."""
import json

import pytest

from core.feeds import FeedKind
from core.health_codes import HealthCodeView
from core.marking import MarkerRequest
from core.model import CachedAnswer, Color
from core.persons import Application
from tests.unit.fakes import NOW, World

ZHANG = "11010519491231002X"
HOUR, DAY = 3600, 86400


@pytest.fixture
def world(policy):
    return World(policy=policy)


@pytest.fixture
def reader(world):
    """Apply as a user does, and read the code as the endpoint does (answer bytes kept)."""
    token = world.sessions.login(world.platform.name, "alice").token
    session = world.sessions.authenticate(token)
    person = world.apply_verified(session, Application("张三", ZHANG, "13800138000", "self"))

    def read(lang="zh", variant="", who=token):
        shown = world.codes.show_for_token(who, person.id, lang, variant)
        if isinstance(shown, HealthCodeView):
            body = json.dumps({"qr": shown.qr, "color": shown.evaluation.color.value,
                               "issued_at": shown.issued_at}).encode()
            world.codes.remember(shown, body)
            return ("signed", json.loads(body))
        return ("reused", json.loads(shown.body))

    def twice(**kw):
        """Read twice: the first answer is not kept (a one-off read), the second is."""
        assert read(**kw)[0] == "signed"
        world.clock.advance(1)
        second = read(**kw)
        assert second[0] == "signed"
        return second

    read.person, read.token, read.twice = person, token, twice
    return read


def test_an_answer_is_kept_from_the_second_read_and_served_from_the_third(world, reader):
    first = reader()
    assert first[0] == "signed" and not world.store.answers  # a one-off read stores nothing
    world.clock.advance(10)
    second = reader()
    assert second[0] == "signed" and second[1]["qr"] != first[1]["qr"] and world.store.answers
    world.clock.advance(10)
    assert reader() == ("reused", second[1])


def test_a_read_once_long_ago_does_not_make_the_next_one_kept(world, reader):
    reader()
    world.clock.advance(world.code_ttl)  # past the first answer's reuse time: a one-off again
    assert reader()[0] == "signed" and not world.store.answers


def stay_in_tianhe(world):
    feed = world.services.feeds.create("op", FeedKind.OPERATOR)
    row = {"phone": "13800138000", "city_code": "440106", "from": NOW - 6 * HOUR, "to": NOW - HOUR}
    world.services.travel.ingest(feed, json.dumps(row).encode())


@pytest.mark.parametrize("change", ["marker", "lab result", "stay", "risk area", "policy", "signing key"])
def test_any_change_it_was_built_from_makes_the_next_read_sign_anew(world, reader, change, policy_doc):
    if change == "stay":
        world.services.risk_areas.set("440106", "high", "x", world.staff())
    if change == "risk area":
        stay_in_tianhe(world)
    first = reader.twice()
    assert reader() == ("reused", first[1])
    world.clock.advance(1)
    if change == "marker":
        world.mark(MarkerRequest("close_contact", "流调", id_number=ZHANG))
    elif change == "lab result":
        world.marking.add_lab_result(ZHANG, NOW, "positive", "某检测机构")
    elif change == "stay":
        stay_in_tianhe(world)
    elif change == "risk area":
        world.services.risk_areas.set("440106", "high", "x", world.staff())
    elif change == "policy":
        world.policies.publish({**policy_doc, "version": "2099-01-01"})
    elif change == "signing key":
        world.codec.kid = "k2"
    again = reader()
    assert again[0] == "signed" and again[1]["qr"] != first[1]["qr"]
    expected = {"marker": Color.RED, "lab result": Color.RED, "risk area": Color.YELLOW, "stay": Color.YELLOW}
    assert again[1]["color"] == expected.get(change, Color.GREEN).value


def test_reused_for_half_the_code_life_at_most(world, reader):
    first = reader.twice()
    world.clock.advance(world.code_ttl // 2 - 1)
    assert reader()[0] == "reused"
    world.clock.advance(1)
    second = reader()
    assert second[0] == "signed" and second[1]["issued_at"] == first[1]["issued_at"] + world.code_ttl // 2


def test_never_past_the_moment_time_alone_changes_the_colour(world, reader):
    # A secondary contact (7 days) marked 7 days less 10 s ago: yellow for 10 s more, then green.
    world.mark(MarkerRequest("secondary_contact", "流调", id_number=ZHANG, since=NOW - 7 * DAY + 11))
    assert reader.twice()[1]["color"] == "yellow"  # the second 1 s later: 10 s to go
    world.clock.advance(9)
    assert reader()[0] == "reused"
    world.clock.advance(1)
    assert reader()[1]["color"] == "green"


def test_each_language_variant_and_account_has_its_own(world, reader):
    first = reader.twice()
    assert reader(lang="en")[0] == "signed" and reader(variant="svg")[0] == "signed"
    assert reader()[1] == first[1]
    other = world.sessions.login(world.platform.name, "alice").token  # another login, same account
    assert reader(who=other) == ("reused", first[1])


def test_a_bad_token_gets_nothing_even_with_an_answer_kept(world, reader):
    reader.twice()
    from core.errors import Unauthorized

    with pytest.raises(Unauthorized):
        reader(who=reader.token[:-2] + "xx")


def test_switched_off_every_read_signs(policy):
    world = World(policy=policy, code_cache=False)
    token = world.sessions.login(world.platform.name, "alice").token
    person = world.apply_verified(world.sessions.authenticate(token), Application("张三", ZHANG, "13800138000", "self"))
    for _ in range(2):
        assert isinstance(world.codes.show_for_token(token, person.id, "zh", ""), HealthCodeView)
    assert not world.store.answers


def test_a_view_read_without_a_variant_is_never_kept(world, reader):
    shown = world.codes.show_for_token(reader.token, reader.person.id)
    assert isinstance(shown, HealthCodeView) and shown.remember is None
    assert not isinstance(shown, CachedAnswer)


def test_the_hints_are_bounded_and_forgotten_whole_when_full():
    from core.code_cache import Until

    hints = Until(size=3)
    for n in range(3):
        hints.set((f"p{n}", "s"), 100)
    assert all(hints.live((f"p{n}", "s"), 99) for n in range(3))  # at the bound: all kept
    assert not hints.live(("p0", "s"), 100)  # and each only until its time
    hints.set(("p3", "s"), 100)  # one more: the old ones go at once, the new one stays
    assert hints.live(("p3", "s"), 99) and not any(hints.live((f"p{n}", "s"), 99) for n in range(3))
    hints.drop(("p3", "s"))
    assert not hints.live(("p3", "s"), 99)
