"""Console users: created by the operator, logging in by password (a wrong password and an unknown
user alike), acting as their own credential under the two-person rule, sessions that end."""
import pytest

from core.accounts import token_hash
from core.console import SIGN_IN_FORM_TTL
from core.errors import Conflict, Forbidden, InvalidInput, Msg, Unauthorized
from core.marking import MarkerRequest
from core.model import MarkerStatus, Role
from tests.unit.fakes import World

PASSWORD = "correct horse battery"
ZHANG = "11010519491231002X"


@pytest.fixture
def world(policy):
    return World(policy=policy)


@pytest.fixture
def console(world):
    return world.services.console


def test_a_user_is_stored_with_a_hash_of_its_password_never_the_password(world, console):
    user = console.create(" Li.Ming ", "authority", PASSWORD)
    assert user.username == "li.ming" and user.role is Role.AUTHORITY
    stored = world.console_users.get("li.ming")
    assert stored.password_hash != PASSWORD and PASSWORD not in stored.password_hash
    assert [u.username for u in console.users()] == ["li.ming"]


@pytest.mark.parametrize("username, role, password, field", [
    ("li", "authority", PASSWORD, "username"),  # too short
    ("1abc", "authority", PASSWORD, "username"),  # must start with a letter
    ("li ming", "authority", PASSWORD, "username"),
    ("li.ming", "checkpoint", PASSWORD, "role"),  # a gate has no console
    ("li.ming", "god", PASSWORD, "role"),
    ("li.ming", "authority", "short pw", "password"),
    ("li.ming", "authority", "x" * 257, "password"),
])
def test_a_bad_username_role_or_password_is_refused_on_its_field(console, username, role, password, field):
    with pytest.raises(InvalidInput) as refused:
        console.create(username, role, password)
    assert field in refused.value.fields
    assert console.users() == []


def test_a_username_is_never_given_twice_not_even_after_it_is_disabled(console):
    console.create("li.ming", "authority", PASSWORD)
    console.disable("li.ming")
    with pytest.raises(Conflict):
        console.create("LI.MING", "auditor", PASSWORD + "!")


def test_creating_and_disabling_users_are_audited_as_the_operator(world, console):
    console.create("li.ming", "authority", PASSWORD)
    assert console.disable("li.ming") and not console.disable("nobody")
    entries = world.services.audit.entries()
    assert [(e.actor, e.role, e.action, e.target) for e in entries] == [
        ("operator", "operator", "console_user.create", "console:li.ming"),
        ("operator", "operator", "console_user.disable", "console:li.ming")]


def test_the_right_password_logs_in_whatever_the_case_of_the_username(console):
    console.create("li.ming", "authority_approver", PASSWORD)
    user = console.login("  LI.Ming", PASSWORD)
    assert user.username == "li.ming" and user.credential.id == "console:li.ming"
    assert user.credential.role is Role.APPROVER


@pytest.mark.parametrize("username, password", [
    ("li.ming", "wrong password!"),  # a wrong password
    ("wang.fang", PASSWORD),  # an unknown user
    ("", ""),  # nothing
    ("li.ming", PASSWORD + "x" * 300),  # too long to be one
    ("x" * 500, PASSWORD),
])
def test_a_wrong_password_and_an_unknown_user_answer_the_same_at_the_same_cost(world, console, username, password):
    console.create("li.ming", "authority", PASSWORD)
    before = world.passwords.verifications
    with pytest.raises(Unauthorized) as refused:
        console.login(username, password)
    assert refused.value.message == Msg.CONSOLE_LOGIN_FAILED and refused.value.fields is None
    # One hash verification either way (a dummy hash for an unknown user), so the time does not tell.
    assert world.passwords.verifications == before + 1


def test_a_disabled_user_cannot_log_in_and_its_sessions_stop_acting(console):
    console.create("li.ming", "authority", PASSWORD)
    assert console.acting("li.ming").id == "console:li.ming"
    console.disable("li.ming")
    with pytest.raises(Unauthorized) as refused:
        console.login("li.ming", PASSWORD)
    assert refused.value.message == Msg.CONSOLE_LOGIN_FAILED
    assert console.acting("li.ming") is None


def test_a_hash_made_with_older_parameters_is_replaced_at_the_next_login(world, console):
    console.create("li.ming", "authority", PASSWORD)
    old = world.console_users.get("li.ming").password_hash
    world.passwords.cost = 2  # the hasher's parameters were raised
    console.login("li.ming", PASSWORD)
    new = world.console_users.get("li.ming").password_hash
    assert new != old and not world.passwords.needs_rehash(new)
    assert console.login("li.ming", PASSWORD).password_hash == new  # and the new one verifies


def test_a_wrong_password_rehashes_nothing(world, console):
    console.create("li.ming", "authority", PASSWORD)
    old = world.console_users.get("li.ming").password_hash
    world.passwords.cost = 2
    with pytest.raises(Unauthorized):
        console.login("li.ming", "wrong password!")
    assert world.console_users.get("li.ming").password_hash == old


def test_a_session_lasts_the_console_lifetime_from_the_login_however_often_it_is_saved(world, console):
    ends = console.keep_session("token-1", {"user": "li.ming"})
    assert ends == world.clock.now() + console.session_ttl
    world.clock.advance(console.session_ttl - 60)
    data = console.session("token-1")
    assert data["user"] == "li.ming"
    assert console.keep_session("token-1", {**data, "note": "saved again"}) == ends  # not extended by use
    world.clock.advance(60)
    assert console.session("token-1") is None


def test_a_login_forms_session_is_short_and_the_store_holds_only_the_tokens_hash(world, console):
    ends = console.keep_session("token-2", {"csrf_token": "abc"})
    assert ends == world.clock.now() + SIGN_IN_FORM_TTL
    assert list(world.console_sessions.sessions) == [token_hash("token-2")]


def test_an_ended_session_is_gone(console):
    console.keep_session("token-3", {"user": "li.ming"})
    console.end_session("token-3")
    assert console.session("token-3") is None


def test_console_users_are_held_to_the_two_person_rule_like_any_credential(world, console):
    proposer = console.create("li.ming", "authority", PASSWORD).credential
    approver = console.create("wang.fang", "authority_approver", PASSWORD).credential
    proposed = world.marking.add_marker(MarkerRequest(kind="confirmed", reason="流调", id_number=ZHANG), proposer)
    assert proposed.marker.status == MarkerStatus.PENDING and proposed.marker.created_by == "console:li.ming"
    with pytest.raises(Forbidden) as refused:
        world.marking.approve(proposed.marker.id, proposer)
    assert refused.value.message == Msg.SAME_CREDENTIAL
    approved = world.marking.approve(proposed.marker.id, approver)
    assert approved.marker.status == MarkerStatus.ACTIVE and approved.marker.approved_by == "console:wang.fang"
    actors = [(e.actor, e.action) for e in world.services.audit.entries() if e.action.startswith("marker.")]
    assert actors == [("console:li.ming", "marker.propose"), ("console:wang.fang", "marker.approve")]
