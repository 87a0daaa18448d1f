"""Mini-program sessions and staff credentials: opaque tokens, kept only as hashes."""

import pytest

from core.accounts import CredentialService, SessionService, token_hash
from core.clock import FixedClock
from core.errors import Forbidden, InvalidInput, Msg, Unauthorized
from tests.unit.fakes import NOW, FakePlatform, FakeTokenStore


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def tokens(clock) -> FakeTokenStore:
    return FakeTokenStore(clock)


@pytest.fixture
def sessions(tokens) -> SessionService:
    return SessionService({"fake": FakePlatform("fake"), "other": FakePlatform("other")}, tokens, ttl=3600)


@pytest.fixture
def credentials(tokens, clock) -> CredentialService:
    return CredentialService(tokens, clock)


# -- sessions -------------------------------------------------------------------------------------


def test_login_gives_a_token_that_authenticates_the_account(sessions):
    result = sessions.login("fake", "alice")
    session = sessions.authenticate(result.token)
    assert result.expires_in == 3600
    assert session.account_id == result.identity.account_id
    assert session.platform == "fake"


def test_same_user_logging_in_twice_is_the_same_account_with_different_tokens(sessions):
    first, second = sessions.login("fake", "alice"), sessions.login("fake", "alice")
    assert first.token != second.token
    assert sessions.authenticate(first.token).account_id == sessions.authenticate(second.token).account_id


def test_same_user_id_on_another_platform_is_another_account(sessions):
    here, there = sessions.login("fake", "alice"), sessions.login("other", "alice")
    assert sessions.authenticate(here.token).account_id != sessions.authenticate(there.token).account_id


def test_only_the_hash_of_a_token_is_stored(sessions, tokens):
    token = sessions.login("fake", "alice").token
    assert list(tokens.sessions) == [token_hash(token)]
    assert token not in repr(tokens.sessions)


@pytest.mark.parametrize("token", [None, "", "not-a-token"])
def test_missing_or_unknown_token_is_unauthorized(sessions, token):
    sessions.login("fake", "alice")
    with pytest.raises(Unauthorized):
        sessions.authenticate(token)


def test_token_stops_working_after_logout(sessions):
    token = sessions.login("fake", "alice").token
    sessions.logout(token)
    with pytest.raises(Unauthorized):
        sessions.authenticate(token)


def test_token_stops_working_when_it_expires(sessions, clock):
    token = sessions.login("fake", "alice").token
    clock.advance(3599)
    sessions.authenticate(token)
    clock.advance(1)
    with pytest.raises(Unauthorized):
        sessions.authenticate(token)


def test_unknown_platform_is_invalid_input(sessions):
    with pytest.raises(InvalidInput) as caught:
        sessions.login("myspace", "alice")
    assert caught.value.fields == {"platform": [Msg.PLATFORM_NOT_ENABLED]}
    assert caught.value.fields["platform"][0].params == {"name": "myspace"}


def test_platform_refusing_the_login_code_is_invalid_input(sessions, tokens):
    with pytest.raises(InvalidInput):
        sessions.login("fake", "")
    assert tokens.sessions == {}


# -- staff credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["authority", "checkpoint"])
def test_credential_authenticates_for_its_role(credentials, role):
    token, credential = credentials.create(role, "  Chaoyang CDC  ")
    assert credentials.authenticate(token, role) == credential
    assert credential.name == "Chaoyang CDC"
    assert credential.created_at == NOW


def test_credential_of_another_role_is_forbidden(credentials):
    token, _ = credentials.create("checkpoint", "gate 3")
    with pytest.raises(Forbidden):
        credentials.authenticate(token, "authority")


@pytest.mark.parametrize("token", [None, "", "hca_forged"])
def test_missing_or_unknown_credential_is_unauthorized(credentials, token):
    credentials.create("authority", "cdc")
    with pytest.raises(Unauthorized):
        credentials.authenticate(token, "authority")


def test_session_token_is_not_a_staff_credential(credentials, sessions):
    token = sessions.login("fake", "alice").token
    with pytest.raises(Unauthorized):
        credentials.authenticate(token, "checkpoint")


def test_unknown_role_is_invalid_input(credentials):
    with pytest.raises(InvalidInput) as caught:
        credentials.create("admin", "root")
    assert list(caught.value.fields) == ["role"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 65])
def test_credential_needs_a_name_of_1_to_64_characters(credentials, name):
    with pytest.raises(InvalidInput):
        credentials.create("authority", name)


def test_revoked_credential_no_longer_authenticates(credentials, clock):
    token, credential = credentials.create("checkpoint", "gate 3")
    clock.advance(1)
    other_token, other = credentials.create("checkpoint", "gate 4")
    assert credentials.list() == [credential, other]
    assert credentials.revoke(credential.id) is True
    with pytest.raises(Unauthorized):
        credentials.authenticate(token, "checkpoint")
    assert credentials.authenticate(other_token, "checkpoint") == other
    assert credentials.list() == [other]
    assert credentials.revoke(credential.id) is False


def test_staff_credentials_are_cached_briefly_and_revocation_clears_this_process(world):
    token, credential = world.credentials.create("checkpoint", "东门")
    assert world.credentials.authenticate(token, "checkpoint") == credential
    world.tokens.credentials_by_hash.clear()  # revoked elsewhere: this process still trusts it…
    assert world.credentials.authenticate(token, "checkpoint") == credential
    world.clock.advance(5)  # …for at most the cache period
    with pytest.raises(Unauthorized):
        world.credentials.authenticate(token, "checkpoint")
