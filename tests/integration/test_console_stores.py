"""The console's stores on Redis and their fakes, held to one contract; sessions expire in Redis
itself and nothing in Redis names a session's token."""
import pytest

from adapters.store.console import USERS, RedisConsoleSessions, RedisConsoleUsers, console_session_key
from core.clock import FixedClock
from core.console import ConsoleUser
from core.model import Role
from tests.unit.fakes_authority import FakeConsoleSessions, FakeConsoleUsers

USER = ConsoleUser("li.ming", Role.AUTHORITY, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", 1_700_000_000)


@pytest.fixture(params=["redis", "fake"])
def kind(request):
    return request.param


def test_users_are_added_once_read_back_replaced_and_listed(kind, redis_server):
    users = RedisConsoleUsers(redis_server) if kind == "redis" else FakeConsoleUsers()
    assert users.get("li.ming") is None and users.all() == []
    assert users.add(USER) is True
    assert users.add(ConsoleUser("li.ming", Role.AUDITOR, "other", 1)) is False
    assert users.get("li.ming") == USER
    disabled = ConsoleUser(**{**vars(USER), "disabled": True})
    users.replace(disabled)
    assert users.get("li.ming") == disabled
    second = ConsoleUser("wang.fang", Role.APPROVER, "h", 1_700_000_001)
    users.add(second)
    assert sorted(users.all(), key=lambda u: u.username) == [disabled, second]


def test_sessions_round_trip_and_are_deleted(kind, redis_server):
    sessions = RedisConsoleSessions(redis_server) if kind == "redis" else FakeConsoleSessions(FixedClock(0))
    assert sessions.load("d1") is None
    data = {"user": "li.ming", "exp": 1_700_028_800, "csrf_token": "abc", "_flashes": [["ok", "已保存"]]}
    sessions.save("d1", data, 60)
    assert sessions.load("d1") == data
    sessions.delete("d1")
    assert sessions.load("d1") is None


def test_a_session_key_lives_no_longer_than_its_ttl(redis_server):
    RedisConsoleSessions(redis_server).save("d2", {"user": "li.ming"}, 600)
    assert 590 <= redis_server.ttl(console_session_key("d2")) <= 600


def test_users_live_in_one_hash_of_their_own_hash_tag(redis_server):
    RedisConsoleUsers(redis_server).add(USER)
    assert redis_server.keys("*") == [USERS.encode()]
