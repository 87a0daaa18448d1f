"""The Alipay adapter against the gateway simulator over real HTTP: login, face check, messages."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.platforms.alipay_gateway import BEIJING
from core.errors import Forbidden, InvalidInput, InvalidLoginCode, PlatformUnavailable, Unauthorized
from core.platforms import ColorNotice
from tests.integration.platforms import (
    APP_ID,
    ID_NUMBER,
    MOBILE,
    NAME,
    OPEN_APP_ID,
    OPEN_ID,
    USER_ID,
    aes_key,
    alipay_apps,
    alipay_world,
    assert_no_personal_data,
    key,
    keys,
)

NOTICE = ColorNotice(person_id="p-42", name_masked="张*", color="red", at=1_700_000_000, reason="close_contact")


@pytest.fixture
def alipay(redis_server):
    with alipay_world(redis_server) as world:
        yield world


# -- login ---------------------------------------------------------------------------------


def test_login_names_the_account_by_the_alipay_user_id(alipay):
    identity = alipay.platform.login(alipay.sim.issue_code(user_id=USER_ID))
    assert (identity.platform, identity.app_id, identity.user_id) == ("alipay", APP_ID, USER_ID)
    assert identity.account_id == alipay.account_id()


def test_login_sends_grant_type_and_code_as_top_level_parameters_in_beijing_time(alipay):
    code = alipay.sim.issue_code(user_id=USER_ID)
    alipay.platform.login(code)
    sent = alipay.sim.requests[-1]
    assert (sent["grant_type"], sent["code"]) == ("authorization_code", code)
    assert json.loads(sent["biz_content"]) == {}
    stamped = dt.datetime.strptime(sent["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    assert abs(stamped.timestamp() - dt.datetime.now(dt.UTC).timestamp()) < 60


def test_a_new_app_logs_in_by_open_id(alipay):
    identity = alipay.platform.login(alipay.sim.issue_code(open_id=OPEN_ID), app_id=OPEN_APP_ID)
    assert (identity.app_id, identity.user_id) == (OPEN_APP_ID, OPEN_ID)


def test_a_reused_code_is_an_invalid_login_code_not_a_signature_error(alipay, redis_server):
    code = alipay.sim.issue_code(user_id=USER_ID)
    alipay.platform.login(code)
    before = keys(redis_server)
    with pytest.raises(InvalidLoginCode):
        alipay.platform.login(code)
    assert keys(redis_server) == before


def test_an_unknown_code_is_an_invalid_login_code(alipay):
    with pytest.raises(InvalidLoginCode):
        alipay.platform.login("0123456789abcdef0123456789abcdef")


def test_an_empty_or_huge_code_is_refused_before_asking_alipay(alipay):
    for code in ("", "   ", "x" * 129, "ab\x00c"):
        with pytest.raises(InvalidInput):
            alipay.platform.login(code)
    assert alipay.sim.requests == []
    with pytest.raises(InvalidLoginCode):  # the longest code still goes to Alipay
        alipay.platform.login("x" * 128)
    assert len(alipay.sim.requests) == 1


def test_an_app_that_is_not_configured_is_refused(alipay):
    with pytest.raises(InvalidInput):
        alipay.platform.login(alipay.sim.issue_code(user_id=USER_ID), app_id="2021999999999999")


@pytest.mark.parametrize("misbehave", ["forged", "unsigned", "garbage", "500"])
def test_a_reply_that_does_not_verify_or_a_failing_gateway_is_unavailable(alipay, misbehave, caplog, redis_server):
    alipay.sim.misbehave = misbehave
    code = alipay.sim.issue_code(user_id=USER_ID)
    with caplog.at_level(logging.WARNING, logger="healthcode"), pytest.raises(PlatformUnavailable):
        alipay.platform.login(code)
    assert keys(redis_server) == set()
    # Only the error's type: urllib's messages carry the request URL, the code with it.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("healthcode")] \
        and all(code not in r.getMessage() and USER_ID not in r.getMessage() for r in caplog.records)


def test_a_timeout_is_unavailable(redis_server):
    with alipay_world(redis_server, timeout=0.3) as world:
        world.sim.misbehave, world.sim.delay = "timeout", 1.0
        with pytest.raises(PlatformUnavailable):
            world.platform.login(world.sim.issue_code(user_id=USER_ID))


def test_an_app_key_alipay_does_not_know_is_unavailable_not_the_users_fault(redis_server):
    apps = alipay_apps(app_private_key_pem=key("stranger").private_pem)
    with alipay_world(redis_server, apps) as world, pytest.raises(PlatformUnavailable):
        world.platform.login(world.sim.issue_code(user_id=USER_ID))


def test_the_consoles_bare_base64_keys_are_accepted(redis_server):
    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    apps = alipay_apps(app_private_key_pem=bare(key("app").private_pem),
                       alipay_public_key_pem=bare(key("alipay").public_pem))
    with alipay_world(redis_server, apps) as world:
        assert world.login() == world.account_id()


# -- face check -----------------------------------------------------------------------------


def open_certify_page(url: str) -> None:
    """What my.startAPVerify does with the URL: the user shows their face on Alipay's page."""
    with urllib.request.urlopen(url, timeout=5) as page:
        assert page.status == 200


def test_face_check_initializes_with_the_persons_identity_and_passes_once_done(alipay):
    account = alipay.login()
    check = alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    certification = alipay.sim.certifications[check.ticket]
    assert (certification.cert_name, certification.cert_no) == (NAME, ID_NUMBER)
    assert certification.return_url == f"alipays://platformapi/startapp?appId={APP_ID}"
    initialize = next(r for r in alipay.sim.requests if r["method"] == "alipay.user.certify.open.initialize")
    assert re.fullmatch(r"[0-9A-Za-z]{32}", json.loads(initialize["biz_content"])["outer_order_no"])
    query = parse_qs(urlsplit(check.url).query)
    assert check.url.startswith(alipay.url + "/gateway.do?")
    assert query["method"] == ["alipay.user.certify.open.certify"] and "sign" in query
    assert check.expires_in > 0

    assert alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is False  # not yet done
    open_certify_page(check.url)
    assert alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is True
    assert alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is False  # used up


def test_each_face_check_has_its_own_order_number(alipay):
    account = alipay.login()
    alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    assert len(alipay.sim.order_numbers) == 2


def test_a_face_that_does_not_match_fails(alipay):
    account = alipay.login()
    alipay.sim.face_mismatch.add(ID_NUMBER)
    check = alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    open_certify_page(check.url)
    assert alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER) is False


def test_one_account_cannot_use_another_accounts_certify_id(alipay):
    owner, other = alipay.login(USER_ID), alipay.login("2088102000000002")
    check = alipay.platform.begin_identity_check(owner, NAME, ID_NUMBER)
    open_certify_page(check.url)
    queries = len(alipay.sim.requests)
    assert alipay.platform.verify_identity(other, check.ticket, NAME, ID_NUMBER) is False
    assert len(alipay.sim.requests) == queries  # refused here, Alipay never asked
    assert alipay.platform.verify_identity(owner, check.ticket, NAME, ID_NUMBER) is True


def test_a_certify_id_passes_only_for_the_person_it_was_made_for(alipay):
    account = alipay.login()
    check = alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    open_certify_page(check.url)
    assert alipay.platform.verify_identity(account, check.ticket, "李四", ID_NUMBER) is False
    assert alipay.platform.verify_identity(account, check.ticket, NAME, "110105194912310037") is False


def test_a_face_check_needs_a_known_account(alipay):
    with pytest.raises(Unauthorized):
        alipay.platform.begin_identity_check(alipay.account_id(), NAME, ID_NUMBER)


def test_a_refused_initialization_is_a_failed_identity_check_and_binds_nothing(alipay, redis_server):
    account = alipay.login()
    alipay.sim.cert_refused.add(ID_NUMBER)
    before = keys(redis_server)
    with pytest.raises(Forbidden):
        alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    assert keys(redis_server) == before


def test_a_failing_gateway_during_the_face_check_is_unavailable(alipay):
    account = alipay.login()
    check = alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    alipay.sim.misbehave = "500"
    with pytest.raises(PlatformUnavailable):
        alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER)


# -- messages -------------------------------------------------------------------------------


def test_a_colour_change_is_sent_as_a_template_message_to_the_user(alipay):
    account = alipay.login()
    assert alipay.platform.notify(account, NOTICE) is True
    (message,) = alipay.sim.messages
    assert (message["to_user_id"], message["user_template_id"]) == (USER_ID, "TPL0001")
    assert message["page"] == "pages/code/index?person=p-42"
    data = json.loads(message["data"])
    assert [data[k]["value"] for k in ("keyword1", "keyword2", "keyword3")] == ["张*", "红码", "2023-11-15 06:13"]


def test_a_user_who_cannot_be_reached_is_false(alipay):
    account = alipay.login()
    alipay.sim.unreachable.add(USER_ID)
    assert alipay.platform.notify(account, NOTICE) is False


def test_an_unknown_account_or_an_app_without_template_is_false(alipay):
    assert alipay.platform.notify(alipay.account_id(), NOTICE) is False
    account = alipay.platform.login(alipay.sim.issue_code(open_id=OPEN_ID), app_id=OPEN_APP_ID)
    assert alipay.platform.notify(account.account_id, NOTICE) is False
    assert alipay.sim.messages == []


def test_a_failing_gateway_is_unavailable_for_messages(alipay):
    account = alipay.login()
    alipay.sim.misbehave = "500"
    with pytest.raises(PlatformUnavailable):
        alipay.platform.notify(account, NOTICE)


# -- logs -----------------------------------------------------------------------------------


def test_no_personal_data_or_secret_reaches_the_logs(alipay, caplog):
    caplog.set_level(logging.DEBUG)
    code = alipay.sim.issue_code(user_id=USER_ID)
    account = alipay.platform.login(code).account_id
    with pytest.raises(InvalidLoginCode):
        alipay.platform.login(code)
    check = alipay.platform.begin_identity_check(account, NAME, ID_NUMBER)
    open_certify_page(check.url)
    alipay.platform.verify_identity(account, check.ticket, NAME, ID_NUMBER)
    proof = alipay.sim.phone_proof(aes_key(), {"code": "10000", "msg": "Success", "mobile": MOBILE})
    alipay.platform.phone_number(account, {"response": proof})
    with pytest.raises(InvalidInput):
        alipay.platform.phone_number(account, {"response": proof.replace('"sign": "', '"sign": "A')})
    alipay.sim.unreachable.add(USER_ID)
    alipay.platform.notify(account, NOTICE)
    for misbehave in ("forged", "500"):
        alipay.sim.misbehave = misbehave
        with pytest.raises(PlatformUnavailable):
            alipay.platform.login(alipay.sim.issue_code(user_id=USER_ID))
    caplog.records[:] = [r for r in caplog.records if r.name != "werkzeug"]  # the simulator's access log
    private_key_line = key("app").private_pem.splitlines()[1]
    assert_no_personal_data(caplog, USER_ID, NAME, ID_NUMBER, MOBILE, code, check.ticket, private_key_line)
