"""The government-services adapter against the OIDC provider simulator over real HTTP."""
from __future__ import annotations

import logging

import pytest

from adapters.pii import HmacAccountIds
from adapters.platforms.gov import CLAIMS_FIELD, GovConfig, GovPlatform
from core.errors import (
    Forbidden,
    InvalidInput,
    InvalidLoginCode,
    NotFound,
    PlatformUnavailable,
    Unauthorized,
)
from core.platforms import ColorNotice, WebhookRequest
from tests.integration.platforms import (
    GOV_CLIENT_ID,
    GOV_SECRET,
    GOV_SUB,
    ID_NUMBER,
    MOBILE,
    NAME,
    REDIRECT_URI,
    SECRET,
    account_state,
    assert_no_personal_data,
    gov_config,
    gov_world,
    keys,
)


@pytest.fixture
def gov(redis_server):
    with gov_world(redis_server) as world:
        yield world


# -- login ---------------------------------------------------------------------------------


def test_login_verifies_the_id_token_and_names_the_account_by_its_subject(gov):
    identity = gov.platform.login(gov.provider.issue_code(GOV_SUB, {"name": NAME, "id_card": ID_NUMBER}))
    assert (identity.platform, identity.app_id, identity.user_id) == ("gov", GOV_CLIENT_ID, GOV_SUB)
    assert identity.account_id == gov.account_id()
    assert gov.provider.access_tokens and gov.provider.jwks_fetches == 1


def test_claims_missing_from_the_id_token_are_read_from_userinfo(gov):
    account = gov.login(in_id_token=False)
    ticket = gov.platform.begin_identity_check(account, NAME, ID_NUMBER).ticket
    assert gov.platform.verify_identity(account, ticket, NAME, ID_NUMBER) is True


def test_the_user_id_claim_is_configuration(redis_server):
    with gov_world(redis_server, user_id_claim="uid") as world:
        identity = world.platform.login(world.provider.issue_code(GOV_SUB, {"uid": "U-77"}))
        assert identity.user_id == "U-77"


@pytest.mark.parametrize("id_tokens", [False, True], ids=["no-id-token", "unverifiable-id-token-ignored"])
def test_a_plain_oauth_platform_is_known_by_its_userinfo(redis_server, id_tokens):
    with gov_world(redis_server, id_tokens=id_tokens, jwks_uri=None, issuer=None) as world:
        world.provider.misbehave = "forged" if id_tokens else None
        identity = world.platform.login(world.provider.issue_code(GOV_SUB, {"name": NAME}))
        assert identity.user_id == GOV_SUB
        assert world.provider.jwks_fetches == 0


def test_a_reused_or_unknown_code_is_an_invalid_login_code(gov, redis_server):
    code = gov.provider.issue_code(GOV_SUB)
    gov.platform.login(code)
    before = keys(redis_server)
    for again in (code, "never-issued"):
        with pytest.raises(InvalidLoginCode):
            gov.platform.login(again)
    assert keys(redis_server) == before


def test_a_code_issued_for_another_redirect_uri_is_an_invalid_login_code(redis_server):
    with gov_world(redis_server, redirect_uri="https://elsewhere.example/cb") as world:
        with pytest.raises(InvalidLoginCode):
            world.platform.login(world.provider.issue_code(GOV_SUB))


def test_a_wrong_client_secret_is_unavailable_not_the_users_fault(redis_server):
    with gov_world(redis_server, client_secret="wrong") as world:
        with pytest.raises(PlatformUnavailable):
            world.platform.login(world.provider.issue_code(GOV_SUB))


def test_the_client_secret_may_go_in_the_body(redis_server):
    with gov_world(redis_server, token_endpoint_auth_method="client_secret_post") as world:
        assert world.login() == world.account_id()


@pytest.mark.parametrize("misbehave", ["forged", "wrong-iss", "wrong-aud", "expired", "other-sub", "500"])
def test_an_id_token_that_does_not_verify_or_a_failing_platform_is_unavailable(gov, misbehave):
    gov.provider.misbehave = misbehave
    with pytest.raises(PlatformUnavailable):
        gov.login(in_id_token=misbehave != "other-sub")  # other-sub: claims only in userinfo, so it is read
    assert gov.state.get(gov.account_id(), CLAIMS_FIELD) is None


def test_a_timeout_is_unavailable(redis_server):
    with gov_world(redis_server, timeout=0.3) as world:
        world.provider.misbehave, world.provider.delay = "timeout", 1.0
        with pytest.raises(PlatformUnavailable):
            world.login()


def test_an_unreachable_platform_is_unavailable(redis_server):
    config = gov_config("http://127.0.0.1:9")  # discard port: nothing listens
    platform = GovPlatform(config, HmacAccountIds(SECRET), account_state(redis_server), timeout=0.5)
    with pytest.raises(PlatformUnavailable):
        platform.login("some-code")


def test_a_rotated_signing_key_is_fetched_again(gov):
    gov.login()
    gov.provider.rotate()
    assert gov.login() == gov.account_id()
    assert gov.provider.jwks_fetches == 2


def test_an_empty_code_or_another_client_is_refused_before_asking_the_platform(gov):
    for code in ("", "x" * 513):
        with pytest.raises(InvalidInput):
            gov.platform.login(code)
    with pytest.raises(InvalidLoginCode):  # the longest code still goes to the platform
        gov.platform.login("x" * 512)
    with pytest.raises(InvalidInput):
        gov.platform.login(gov.provider.issue_code(GOV_SUB), app_id="another-client")
    assert not gov.provider.access_tokens


def test_a_login_that_does_not_verify_leaves_nothing_behind(gov, redis_server):
    gov.provider.misbehave = "forged"
    with pytest.raises(PlatformUnavailable):
        gov.login()
    assert keys(redis_server) == set()


@pytest.mark.parametrize("change", [
    {"jwks_uri": "https://gov.example/jwks", "issuer": None},  # nothing to check iss against
    {"userinfo_endpoint": None, "jwks_uri": None, "issuer": None},  # nothing to trust
    {"token_endpoint": "http://gov.example/token"},  # the secret in clear
])
def test_a_configuration_that_cannot_be_trusted_is_refused(change):
    values = dict(client_id=GOV_CLIENT_ID, client_secret=GOV_SECRET, token_endpoint="https://gov.example/token",
                  userinfo_endpoint="https://gov.example/userinfo", jwks_uri="https://gov.example/jwks",
                  issuer="https://gov.example", redirect_uri=REDIRECT_URI)
    with pytest.raises(ValueError):
        GovConfig(**{**values, **change})


# -- identity: the real-name login ----------------------------------------------------------


def test_the_real_name_claims_pass_the_identity_check_once(gov):
    account = gov.login()
    check = gov.platform.begin_identity_check(account, NAME, ID_NUMBER)
    assert check.url is None and check.expires_in > 0
    assert gov.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is True
    assert gov.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is False  # used up


@pytest.mark.parametrize("name, id_number", [
    ("李四", ID_NUMBER),  # another name
    (NAME, "110105194912310037"),  # another number
    (NAME, ID_NUMBER[:-1]),  # a prefix is not the number
])
def test_another_persons_name_or_id_number_fails(gov, name, id_number):
    account = gov.login()
    check = gov.platform.begin_identity_check(account, name, id_number)
    assert gov.platform.verify_identity(account, check.ticket, name, id_number) is False


def test_the_check_digit_may_be_lower_case_in_the_claim(gov):
    account = gov.login(claims={"name": NAME, "id_card": ID_NUMBER.lower()})
    check = gov.platform.begin_identity_check(account, NAME, ID_NUMBER)
    assert gov.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is True


def test_a_ticket_is_good_only_for_its_account_and_person(gov):
    owner, other = gov.login(), gov.login("gov-user-0002")
    check = gov.platform.begin_identity_check(owner, NAME, ID_NUMBER)
    assert gov.platform.verify_identity(other, check.ticket, NAME, ID_NUMBER) is False
    assert gov.platform.verify_identity(owner, "made-up", NAME, ID_NUMBER) is False
    assert gov.platform.verify_identity(owner, check.ticket, NAME, ID_NUMBER) is True


def test_a_login_without_real_name_claims_cannot_verify_anyone(gov):
    account = gov.login(claims={})
    with pytest.raises(Forbidden):
        gov.platform.begin_identity_check(account, NAME, ID_NUMBER)


def test_forgotten_claims_mean_logging_in_again(gov):
    with pytest.raises(Unauthorized):
        gov.platform.begin_identity_check(gov.account_id(), NAME, ID_NUMBER)


# -- phone, callbacks, messages --------------------------------------------------------------


def test_the_phone_comes_from_the_configured_claim(gov):
    assert gov.platform.phone_number(gov.login(), {}) == "+86" + MOBILE


def test_an_unverified_or_missing_phone_claim_is_refused(gov):
    unverified = gov.login(claims={"phone_number": MOBILE, "phone_number_verified": False})
    missing = gov.login("gov-user-0002", claims={})
    for account in (unverified, missing):
        with pytest.raises(InvalidInput):
            gov.platform.phone_number(account, {})


def test_no_phone_claim_configured_means_no_phone(redis_server):
    with gov_world(redis_server, phone_claim=None) as world:
        with pytest.raises(InvalidInput):
            world.platform.phone_number(world.login(), {})


def test_there_are_no_callbacks_and_no_messages(gov):
    with pytest.raises(NotFound):
        gov.platform.handle_webhook(WebhookRequest("POST", {}, {}, b"{}"))
    notice = ColorNotice(person_id="p-1", name_masked="张*", color="red", at=1_700_000_000, reason="x")
    assert gov.platform.notify(gov.login(), notice) is False


def test_no_personal_data_or_secret_reaches_the_logs(gov, caplog):
    caplog.set_level(logging.DEBUG)
    account = gov.login()
    check = gov.platform.begin_identity_check(account, NAME, ID_NUMBER)
    gov.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER)
    gov.platform.phone_number(account, {})
    code = gov.provider.issue_code(GOV_SUB)
    gov.platform.login(code)
    with pytest.raises(InvalidLoginCode):
        gov.platform.login(code)
    gov.login("gov-user-0002", claims={})
    with pytest.raises(Forbidden):
        gov.platform.begin_identity_check(gov.account_id("gov-user-0002"), NAME, ID_NUMBER)
    for misbehave in ("forged", "500"):
        gov.provider.misbehave = misbehave
        with pytest.raises(PlatformUnavailable):
            gov.login()
    caplog.records[:] = [r for r in caplog.records if r.name != "werkzeug"]  # the simulator's access log
    assert_no_personal_data(caplog, GOV_SUB, NAME, ID_NUMBER, MOBILE, code, GOV_SECRET, check.ticket)
