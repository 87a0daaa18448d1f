"""The WeChat adapter against the simulator of api.weixin.qq.com over real HTTP, on real Redis:
login, access tokens, phone authorization, face check, subscribe messages, and what reaches logs."""
import base64
import json
import logging
import os
import re
import socket

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatWxaCrypto

from adapters.pii import HmacAccountIds
from adapters.platforms.state import AccountState, ReplayGuard
from adapters.platforms.wechat import WeChatApp, WeChatPlatform, cert_hash
from core.errors import InvalidInput, InvalidLoginCode, LoginRefused, Msg, PlatformUnavailable, Unauthorized
from core.platforms import ColorNotice
from tests.ids import id_number
from tests.sims.server import serve
from tests.sims.wechat import OUT_SEQ_NO, WeChatSimulator

APP = WeChatApp("wx1111111111111111", "app-secret-one", "push-token-one", None, "tmpl-color", "pages/code/code")
OTHER = WeChatApp("wx2222222222222222", "app-secret-two", "push-token-two")
IDS = HmacAccountIds(b"account-id-secret-for-tests-0123456789")
STATE_KEY = os.urandom(32)
NAME, ID_NUMBER = "张三", id_number()

# wechatpy's tests/test_crypto.py::test_wxa_decrypt_message (PLATFORMS.md A2)
WXA_APPID = "wx4f4bc4dec97d474b"
WXA_SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
WXA_IV = "r7BXXKkLb8qrSNn05n0qiA=="
WXA_ENCRYPTED = (
    "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC"
    "+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2"
    "/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz"
    "/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E"
    "/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns"
    "/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG"
    "20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
)
WXA_PLAINTEXT = (
    '{"openId":"oGZUI0egBJY1zhBYw2KhdUfwVJJE","nickName":"Band","gender":1,"language":"zh_CN",'
    '"city":"Guangzhou","province":"Guangdong","country":"CN","avatarUrl":"http://wx.qlogo.cn/mmopen/'
    'vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4WgMEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0",'
    '"unionId":"ocMvos6NjeKLIBqg5Mr9QjxrP1FA","watermark":{"timestamp":1477314187,"appid":"wx4f4bc4dec97d474b"}}'
)


@pytest.fixture(scope="module")
def wechat_server():
    """One HTTP server for the module (stopping one takes half a second), a new simulator per test."""
    current = {}
    with serve(lambda request: current["sim"](request)) as url:
        yield url, current


@pytest.fixture
def sim(wechat_server):
    url, current = wechat_server
    simulator = WeChatSimulator(apps={APP.app_id: APP.secret, OTHER.app_id: OTHER.secret, WXA_APPID: "s"})
    simulator.url = url
    current["sim"] = simulator
    return simulator


def make_platform(redis_server, url, apps=(APP, OTHER), timeout=2.0):
    return WeChatPlatform(apps, ids=IDS, state=AccountState(redis_server, STATE_KEY), guard=ReplayGuard(redis_server),
                          redis=redis_server, api_base=url + "/", timeout=timeout, session_ttl=600)


@pytest.fixture
def wechat(sim, redis_server):
    return make_platform(redis_server, sim.url)


def state(redis_server):
    return AccountState(redis_server, STATE_KEY)


def logged_in(sim, wechat, code="code-1", openid="o-user-1", app=APP, **grant):
    sim.grant(code, openid, **grant)
    return wechat.login(code, app.app_id)


def encrypted_phone(session_key: str, app_id: str, phone: str = "13800138000", country: str = "86") -> tuple[str, str]:
    """The older getPhoneNumber payload: AES-128-CBC under the session key, PKCS#7 (A2)."""
    iv = os.urandom(16)
    plain = json.dumps({"phoneNumber": phone, "purePhoneNumber": phone, "countryCode": country,
                        "watermark": {"timestamp": 1700000000, "appid": app_id}}).encode()
    padder = padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    data = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    return base64.b64encode(data).decode(), base64.b64encode(iv).decode()


# -- login -----------------------------------------------------------------------------------


def test_login_names_the_account_and_keeps_the_session_key_server_side(sim, wechat, redis_server):
    sim.grant("code-1", "o-user-1", session_key=WXA_SESSION_KEY, unionid="u-union-1")

    identity = wechat.login("code-1")

    assert (identity.platform, identity.app_id, identity.user_id) == ("wechat", APP.app_id, "o-user-1")
    assert identity.union_id == "u-union-1"
    assert identity.account_id == IDS.account_id("wechat", APP.app_id, "o-user-1")
    assert WXA_SESSION_KEY not in repr(identity)
    kept = state(redis_server)
    assert kept.get(identity.account_id, "session_key") == WXA_SESSION_KEY
    assert (kept.get(identity.account_id, "app_id"), kept.get(identity.account_id, "openid")) == (APP.app_id,
                                                                                                   "o-user-1")
    assert 0 < redis_server.ttl(f"hc:pf:{{{identity.account_id}}}:session_key") <= 600
    assert redis_server.ttl(f"hc:pf:{{{identity.account_id}}}:openid") == -1
    assert not any(WXA_SESSION_KEY.encode() in redis_server.get(key) for key in redis_server.keys("hc:pf:*"))


def test_login_without_unionid_has_none(sim, wechat):
    assert logged_in(sim, wechat).union_id is None


def test_login_for_the_second_app_uses_its_own_credentials(sim, wechat):
    identity = logged_in(sim, wechat, app=OTHER)
    assert identity.app_id == OTHER.app_id
    assert identity.account_id == IDS.account_id("wechat", OTHER.app_id, "o-user-1")


def test_access_token_is_fetched_from_the_simulator_once_and_shared_by_workers(sim, wechat, redis_server):
    logged_in(sim, wechat, "code-1")
    logged_in(sim, wechat, "code-2")
    another_worker = make_platform(redis_server, sim.url)
    logged_in(sim, another_worker, "code-3")

    assert sim.token_fetches == 1
    assert json.loads(redis_server.get(f"hc:wechatpy:{APP.app_id}_access_token")).startswith("tok-")
    assert 7000 < redis_server.ttl(f"hc:wechatpy:{APP.app_id}_access_token") <= 7200


def test_a_login_code_works_once(sim, wechat):
    logged_in(sim, wechat, "code-1")
    with pytest.raises(InvalidLoginCode) as refused:
        wechat.login("code-1")
    assert refused.value.message == Msg.INVALID_LOGIN_CODE


def test_an_unknown_login_code_is_refused(sim, wechat):
    with pytest.raises(InvalidLoginCode):
        wechat.login("never-issued")


def test_a_high_risk_user_is_refused(sim, wechat):
    sim.grant("code-1", "o-user-1", errcode=40226)
    with pytest.raises(LoginRefused) as refused:
        wechat.login("code-1")
    assert refused.value.message == Msg.LOGIN_REFUSED


@pytest.mark.parametrize("errcode", [45011, -1])
def test_quota_and_system_errors_are_platform_unavailable(sim, wechat, errcode):
    sim.grant("code-1", "o-user-1", errcode=errcode)
    with pytest.raises(PlatformUnavailable) as failed:
        wechat.login("code-1")
    assert failed.value.message == Msg.PLATFORM_UNAVAILABLE


def test_a_login_that_times_out_is_platform_unavailable_and_not_sent_again(sim, redis_server):
    wechat = make_platform(redis_server, sim.url, timeout=0.3)
    sim.grant("code-1", "o-user-1")
    sim.delays["sns/jscode2session"] = 1.0
    with pytest.raises(PlatformUnavailable):
        wechat.login("code-1")
    assert sim.calls.count("sns/jscode2session") == 1


def test_a_token_fetch_that_times_out_is_platform_unavailable(sim, redis_server):
    wechat = make_platform(redis_server, sim.url, timeout=0.3)
    sim.grant("code-1", "o-user-1")
    sim.delays["cgi-bin/token"] = 1.0
    with pytest.raises(PlatformUnavailable):
        wechat.login("code-1")
    assert "sns/jscode2session" not in sim.calls  # the code never left: the user may try it again


def test_a_5xx_is_platform_unavailable(sim, wechat):
    sim.grant("code-1", "o-user-1")
    sim.http_status["sns/jscode2session"] = 502
    with pytest.raises(PlatformUnavailable):
        wechat.login("code-1")


def test_a_server_that_does_not_answer_is_platform_unavailable(redis_server):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    wechat = make_platform(redis_server, f"http://127.0.0.1:{port}")
    with pytest.raises(PlatformUnavailable):
        wechat.login("code-1")


def test_an_unknown_app_or_an_empty_code_is_invalid_input(sim, wechat):
    with pytest.raises(InvalidInput) as refused:
        wechat.login("code-1", "wx-not-configured")
    assert refused.value.fields["app_id"] == [Msg.ONE_OF]
    assert refused.value.fields["app_id"][0].params == {"choices": f"{APP.app_id}, {OTHER.app_id}"}
    with pytest.raises(InvalidInput):
        wechat.login("  ")
    assert sim.calls == []


# -- access tokens: one refresh, then give up ------------------------------------------------


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(sim, wechat):
    account = logged_in(sim, wechat).account_id
    sim.expire_tokens()
    sim.phone_codes["phone-code"] = "13800138000"

    assert wechat.phone_number(account, {"code": "phone-code"}) == "13800138000"
    assert sim.token_fetches == 2


def test_a_server_that_always_refuses_the_token_gets_one_refresh_then_platform_unavailable(sim, wechat):
    account = logged_in(sim, wechat).account_id
    sim.reject_all_tokens = True
    sim.phone_codes["phone-code"] = "13800138000"
    fetched = sim.token_fetches

    with pytest.raises(PlatformUnavailable):  # not RecursionError
        wechat.phone_number(account, {"code": "phone-code"})
    assert sim.token_fetches == fetched + 1
    assert sim.calls.count("wxa/business/getuserphonenumber") == 2


def test_a_refused_token_at_login_is_not_retried_but_replaced_for_the_next_login(sim, wechat):
    logged_in(sim, wechat, "code-1")
    sim.invalidate_tokens()
    sim.grant("code-2", "o-user-2")
    sim.grant("code-3", "o-user-3")

    with pytest.raises(PlatformUnavailable):
        wechat.login("code-2")
    assert sim.calls.count("sns/jscode2session") == 2  # code-1 and code-2, each once
    assert wechat.login("code-3").user_id == "o-user-3"
    assert sim.token_fetches == 2


# -- phone authorization ---------------------------------------------------------------------


def test_phone_by_code_returns_the_pure_number_once(sim, wechat):
    account = logged_in(sim, wechat).account_id
    sim.phone_codes["phone-code"] = "13800138000"

    assert wechat.phone_number(account, {"code": "phone-code"}) == "13800138000"
    with pytest.raises(InvalidInput) as refused:
        wechat.phone_number(account, {"code": "phone-code"})
    assert refused.value.message == Msg.PHONE_PROOF_INVALID


def test_phone_by_encrypted_data_opens_with_the_session_key(sim, wechat):
    account = logged_in(sim, wechat, session_key=WXA_SESSION_KEY).account_id
    data, iv = encrypted_phone(WXA_SESSION_KEY, APP.app_id, "13900139000")
    assert wechat.phone_number(account, {"encrypted_data": data, "iv": iv}) == "13900139000"


def test_encrypted_data_watermarked_for_another_app_is_refused(sim, wechat):
    account = logged_in(sim, wechat, session_key=WXA_SESSION_KEY).account_id
    data, iv = encrypted_phone(WXA_SESSION_KEY, OTHER.app_id)
    with pytest.raises(InvalidInput) as refused:
        wechat.phone_number(account, {"encrypted_data": data, "iv": iv})
    assert refused.value.message == Msg.PHONE_PROOF_INVALID


def test_a_number_from_abroad_is_refused(sim, wechat):
    account = logged_in(sim, wechat, session_key=WXA_SESSION_KEY).account_id
    data, iv = encrypted_phone(WXA_SESSION_KEY, APP.app_id, "13800138000", country="44")
    with pytest.raises(InvalidInput):
        wechat.phone_number(account, {"encrypted_data": data, "iv": iv})


def test_encrypted_data_after_the_session_key_expired_is_refused(sim, wechat, redis_server):
    account = logged_in(sim, wechat, session_key=WXA_SESSION_KEY).account_id
    data, iv = encrypted_phone(WXA_SESSION_KEY, APP.app_id)
    state(redis_server).forget(account, "session_key")
    with pytest.raises(InvalidInput) as refused:
        wechat.phone_number(account, {"encrypted_data": data, "iv": iv})
    assert refused.value.message == Msg.PHONE_PROOF_INVALID


@pytest.mark.parametrize("proof", [
    {"encrypted_data": "not base64!", "iv": WXA_IV},
    {"encrypted_data": base64.b64encode(b"x" * 17).decode(), "iv": WXA_IV},
    {"encrypted_data": WXA_ENCRYPTED, "iv": "c2hvcnQ="},
    {"iv": WXA_IV},
    {},
])
def test_malformed_phone_proofs_are_invalid_input(sim, wechat, proof):
    account = logged_in(sim, wechat, session_key=WXA_SESSION_KEY).account_id
    with pytest.raises(InvalidInput):
        wechat.phone_number(account, proof)


def test_official_wxa_sample_decrypts_with_wechatpy():
    decrypted = WeChatWxaCrypto(WXA_SESSION_KEY, WXA_IV, WXA_APPID).decrypt_message(WXA_ENCRYPTED)
    assert decrypted == json.loads(WXA_PLAINTEXT)


def test_official_wxa_sample_through_the_adapter_opens_but_holds_no_phone(sim, redis_server, caplog):
    app = WeChatApp(WXA_APPID, "s", "t")
    wechat = make_platform(redis_server, sim.url, apps=(app,))
    sim.grant("code-1", "o-user-1", session_key=WXA_SESSION_KEY)
    account = wechat.login("code-1").account_id
    caplog.set_level(logging.INFO, logger="adapters.platforms.wechat")

    with pytest.raises(InvalidInput):  # a userInfo payload: it opens, and has no purePhoneNumber
        wechat.phone_number(account, {"encrypted_data": WXA_ENCRYPTED, "iv": WXA_IV})
    assert "no phone number in the proof" in caplog.text


def test_phone_needs_a_wechat_login(sim, wechat):
    with pytest.raises(InvalidInput):
        wechat.phone_number("someone-else", {"code": "phone-code"})


# -- face check ------------------------------------------------------------------------------


def test_cert_hash_matches_the_documented_example():
    assert cert_hash("张三", "310101199801011234") == \
        "3c241f7ff324977aeb91f173bb2a7b06569e6fd784d5573db34a636d8671108b"


def test_a_passed_face_check_verifies(sim, wechat):
    account = logged_in(sim, wechat).account_id
    check = wechat.begin_identity_check(account, NAME, ID_NUMBER)

    assert check.expires_in == 3600
    session = sim.face[check.ticket]
    assert OUT_SEQ_NO.fullmatch(session.out_seq_no) and session.openid == "o-user-1"
    # the simulator answers only when out_seq_no, openid and cert_hash are those of getverifyid
    assert wechat.verify_identity(account, check.ticket, NAME, ID_NUMBER) is True


def test_each_face_check_has_its_own_out_seq_no(sim, wechat):
    account = logged_in(sim, wechat).account_id
    first = wechat.begin_identity_check(account, NAME, ID_NUMBER)
    second = wechat.begin_identity_check(account, NAME, ID_NUMBER)
    assert sim.face[first.ticket].out_seq_no != sim.face[second.ticket].out_seq_no


@pytest.mark.parametrize("verify_ret", [90004, 90017, 10003, 10001])
def test_a_failed_or_cancelled_face_check_does_not_verify(sim, wechat, verify_ret):
    account = logged_in(sim, wechat).account_id
    sim.face_verify_ret = verify_ret
    check = wechat.begin_identity_check(account, NAME, ID_NUMBER)
    assert wechat.verify_identity(account, check.ticket, NAME, ID_NUMBER) is False


def test_an_unknown_ticket_does_not_verify(sim, wechat):
    account = logged_in(sim, wechat).account_id
    assert wechat.verify_identity(account, "vid-made-up", NAME, ID_NUMBER) is False
    assert wechat.verify_identity(account, "", NAME, ID_NUMBER) is False
    assert "cityservice/face/identify/queryverifyinfo" not in sim.calls


def test_a_ticket_verifies_only_the_person_and_account_it_was_begun_for(sim, wechat):
    account = logged_in(sim, wechat).account_id
    other_account = logged_in(sim, wechat, "code-2", "o-user-2").account_id
    check = wechat.begin_identity_check(account, NAME, ID_NUMBER)

    assert wechat.verify_identity(account, check.ticket, "李四", ID_NUMBER) is False
    assert wechat.verify_identity(account, check.ticket, NAME, id_number(seq=124)) is False
    assert wechat.verify_identity(other_account, check.ticket, NAME, ID_NUMBER) is False


def test_a_face_check_platform_failure_is_platform_unavailable(sim, wechat):
    account = logged_in(sim, wechat).account_id
    check = wechat.begin_identity_check(account, NAME, ID_NUMBER)
    sim.http_status["cityservice/face/identify/queryverifyinfo"] = 503
    with pytest.raises(PlatformUnavailable):
        wechat.verify_identity(account, check.ticket, NAME, ID_NUMBER)
    sim.http_status["cityservice/face/identify/getverifyid"] = 500
    with pytest.raises(PlatformUnavailable):
        wechat.begin_identity_check(account, NAME, ID_NUMBER)


def test_a_face_check_needs_a_wechat_login(sim, wechat):
    with pytest.raises(Unauthorized):
        wechat.begin_identity_check("not-a-wechat-account", NAME, ID_NUMBER)


# -- subscribe messages ----------------------------------------------------------------------

NOTICE = ColorNotice(person_id="p1", name_masked="张*", color="yellow", at=1651365000, reason="close_contact")


def test_a_subscribed_user_gets_the_colour_change(sim, wechat):
    account = logged_in(sim, wechat).account_id
    sim.subscribed.add(("o-user-1", APP.subscribe_template_id))

    assert wechat.notify(account, NOTICE) is True
    assert sim.sent == [{
        "touser": "o-user-1", "template_id": "tmpl-color", "page": "pages/code/code",
        "data": {"thing1": {"value": "张*"}, "phrase2": {"value": "黄码"}, "time3": {"value": "2022年5月1日 08:30"}},
    }]


def test_a_user_who_did_not_subscribe_is_not_reached(sim, wechat):
    account = logged_in(sim, wechat).account_id
    assert wechat.notify(account, NOTICE) is False
    assert sim.sent == []


def test_an_account_without_openid_or_template_is_not_reached(sim, wechat):
    assert wechat.notify("no-such-account", NOTICE) is False
    account = logged_in(sim, wechat, app=OTHER).account_id  # OTHER has no template
    assert wechat.notify(account, NOTICE) is False
    assert "cgi-bin/message/subscribe/send" not in sim.calls


def test_a_notification_platform_failure_is_platform_unavailable(sim, wechat):
    account = logged_in(sim, wechat).account_id
    sim.subscribed.add(("o-user-1", APP.subscribe_template_id))
    sim.http_status["cgi-bin/message/subscribe/send"] = 502
    with pytest.raises(PlatformUnavailable):
        wechat.notify(account, NOTICE)


# -- logs ------------------------------------------------------------------------------------


def test_no_secret_session_key_openid_name_or_id_number_reaches_the_logs(sim, redis_server, caplog):
    caplog.set_level(logging.DEBUG)
    wechat = make_platform(redis_server, sim.url, timeout=0.3)
    account = logged_in(sim, wechat, "code-secret-1", "o-secret-openid", session_key=WXA_SESSION_KEY).account_id
    sim.phone_codes["phone-code-1"] = "13800138000"
    wechat.phone_number(account, {"code": "phone-code-1"})
    data, iv = encrypted_phone(WXA_SESSION_KEY, OTHER.app_id)
    with pytest.raises(InvalidInput):
        wechat.phone_number(account, {"encrypted_data": data, "iv": iv})
    check = wechat.begin_identity_check(account, NAME, ID_NUMBER)
    wechat.verify_identity(account, check.ticket, NAME, ID_NUMBER)
    sim.subscribed.add(("o-secret-openid", APP.subscribe_template_id))
    wechat.notify(account, NOTICE)
    sim.expire_tokens()
    sim.delays["sns/jscode2session"] = 1.0
    sim.grant("code-secret-2", "o-secret-openid")
    with pytest.raises(PlatformUnavailable):
        wechat.login("code-secret-2")

    # Everything our side logged; the simulator's own access log (werkzeug) is WeChat's side.
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name != "werkzeug")
    assert "GET /sns/jscode2session" in ours  # urllib3's request lines are in the capture
    for secret in [APP.secret, WXA_SESSION_KEY, "o-secret-openid", NAME, ID_NUMBER, "code-secret-1",
                   "code-secret-2", "phone-code-1", "13800138000"]:
        assert secret not in ours
    assert not re.search(r"tok-[\w-]{10}", ours)  # access tokens
