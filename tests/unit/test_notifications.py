"""Colour changes reach the person's face-checked accounts once, from the durable queue."""
import pytest

from core.marking import MarkerRequest
from core.persons import Application
from tests.unit.fakes import World

ZHANG = "11010519491231002X"


@pytest.fixture
def world(policy):
    return World(policy=policy)


def mark(world, kind: str = "close_contact") -> None:
    world.mark(MarkerRequest(kind=kind, reason="流调", id_number=ZHANG), world.staff())


def applied(world, user: str, relation: str = "self", verify: bool = True):
    session = world.login(user)
    application = Application("张三", ZHANG, "13800138000", relation)
    view = world.apply_verified(session, application) if verify else world.persons.apply(session, application)
    world.codes.show(session, view.id) if verify else None  # the first colour seen: green, nothing sent
    return session, view


def test_a_colour_change_reaches_every_face_checked_account_once(world):
    owner, person = applied(world, "owner")
    son, _ = applied(world, "son", "family")
    assert world.outbox.events == {}  # the first colour is no change
    mark(world)
    assert world.notifications.deliver("w1") == 1
    assert sorted(account for account, _ in world.notifier.sent) == sorted([owner.account_id, son.account_id])
    notice = world.notifier.sent[0][1]
    assert (notice.person_id, notice.color, notice.name_masked) == (person.id, "red", "张*")
    assert world.outbox.events == {} and world.notifications.deliver("w1") == 0


def test_an_account_whose_face_check_has_not_passed_is_not_told(world):
    owner, _ = applied(world, "owner")
    applied(world, "stranger", "family", verify=False)
    mark(world)
    world.notifications.deliver("w1")
    assert [account for account, _ in world.notifier.sent] == [owner.account_id]


def test_a_platform_down_leaves_the_change_queued_and_a_retry_sends_no_duplicate(world):
    owner, _ = applied(world, "owner")
    son, _ = applied(world, "son", "family")
    mark(world)
    world.notifier.unreachable = set()
    sent_before_failure = []

    original = world.notifier.notify

    def fail_after_first(account_id, notice):
        if sent_before_failure:
            world.notifier.down = True
        sent_before_failure.append(account_id)
        return original(account_id, notice)

    world.notifier.notify = fail_after_first
    assert world.notifications.deliver("w1") == 0  # one sent, then the platform failed
    assert len(world.outbox.events) == 1 and len(world.notifier.sent) == 1
    world.notifier.notify, world.notifier.down = original, False
    assert world.notifications.deliver("w2") == 1
    assert sorted(account for account, _ in world.notifier.sent) == sorted([owner.account_id, son.account_id])


def test_a_change_that_never_reached_the_history_is_not_told(world):
    applied(world, "owner")
    mark(world)
    world.store.changes.clear()  # as if the process died between queueing and recording
    assert world.notifications.deliver("w1") == 1
    assert world.notifier.sent == []


def test_an_erased_person_is_not_told_about(world):
    owner, person = applied(world, "owner")
    mark(world)
    world.persons.unlink(owner, person.id)
    world.notifications.deliver("w1")
    assert world.notifier.sent == []
