"""WeChat message push (/webhooks/wechat) through the adapter, on real Redis: the official
signature and safe-mode samples, revocation events in XML and JSON, plain and encrypted, and
every way a callback is refused (bad, missing, stale or replayed signature) changing nothing."""
import hashlib
import json
import os

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from adapters.pii import HmacAccountIds
from adapters.platforms import wechat_push
from adapters.platforms.state import AccountState, ReplayGuard
from adapters.platforms.wechat import WeChatApp, WeChatPlatform
from core.clock import FixedClock
from core.errors import BadSignature, Msg
from core.platforms import AccountRevoked, WebhookRequest

IDS = HmacAccountIds(b"account-id-secret-for-tests-0123456789")
STATE_KEY = os.urandom(32)
NOW = 1_700_000_000
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP = WeChatApp("wx1111111111111111", "secret-one", "push-token-one", AES_KEY)
OTHER = WeChatApp("wx2222222222222222", "secret-two", "push-token-two", None)

# Message push server check, official example (PLATFORMS.md A5).
SAMPLE_APP = WeChatApp("wx-sample", "s", "AAAAA")
SAMPLE_GET = {"signature": "f464b24fc39322e44b38aa78f5edd27bd1441696", "echostr": "4375120948345356249",
              "timestamp": "1714036504", "nonce": "1514711492"}
# The official WXBizMsgCrypt sample (safe mode), from the WXBizMsgCrypt samples.
CRYPT_APP = WeChatApp("wx2c2769f8efd9abc2", "s", "spamtest", AES_KEY)
CRYPT_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFm"
    "OD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8d"
    "KOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5R"
    "JSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPf"
    "UM669WuMyVWQLCzpu9GhglF2PE="
)
CRYPT_TIMESTAMP, CRYPT_NONCE = "1409735669", "1320562132"
CRYPT_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
CRYPT_BODY = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
              f"<Encrypt><![CDATA[{CRYPT_ENCRYPT}]]></Encrypt></xml>").encode()


def make_platform(redis_server, apps=(APP, OTHER), now=NOW):
    return WeChatPlatform(apps, ids=IDS, state=AccountState(redis_server, STATE_KEY), guard=ReplayGuard(redis_server),
                          redis=redis_server, session_ttl=600, api_base="http://127.0.0.1:9/",
                          clock=FixedClock(now))


@pytest.fixture
def wechat(redis_server):
    return make_platform(redis_server)


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 of the sorted parts, concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def plain_push(body: str, app=APP, timestamp=str(NOW), nonce="n-1", **args) -> WebhookRequest:
    query = {"signature": sign(app.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "openid": "o-sender", **args}
    return WebhookRequest("POST", query, {}, body.encode())


def safe_push(plaintext: str, app=APP, timestamp=str(NOW), nonce="n-1", as_json=False) -> WebhookRequest:
    """Safe mode as WeChat sends it: the envelope {ToUserName, Encrypt} and msg_signature."""
    sealed = xmltodict.parse(WeChatCrypto(app.token, app.encoding_aes_key, app.app_id)
                             .encrypt_message(plaintext, nonce, timestamp))["xml"]
    envelope = {"ToUserName": "gh_0123456789ab", "Encrypt": sealed["Encrypt"]}
    body = json.dumps(envelope) if as_json else xmltodict.unparse({"xml": envelope})
    query = {"signature": sign(app.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce,
             "encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}
    return WebhookRequest("POST", query, {}, body.encode())


def revoke_xml(openid="o-user-1", app_id=APP.app_id, event="user_authorization_revoke") -> str:
    return (f"<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[o-platform]]>"
            f"</FromUserName><CreateTime>{NOW}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><OpenID><![CDATA[{openid}]]></OpenID>"
            f"<AppID><![CDATA[{app_id}]]></AppID><RevokeInfo><![CDATA[8]]></RevokeInfo></xml>")


def revoke_json(openid="o-user-1", app_id=APP.app_id, event="user_authorization_revoke") -> str:
    # the keys as the official JSON example writes them, " OpenID" with a space included
    return json.dumps({"ToUserName": "gh_0123456789ab", "FromUserName": "o-platform", "CreateTime": NOW,
                       "MsgType": "event", "Event": event, " OpenID": openid, " AppID": app_id,
                       " RevokeInfo": "8"})


def remembered(redis_server, openid="o-user-1", app=APP) -> str:
    """An account that logged in: its app id, openid and session key kept."""
    account = IDS.account_id("wechat", app.app_id, openid)
    state = AccountState(redis_server, STATE_KEY)
    state.put(account, "app_id", app.app_id)
    state.put(account, "openid", openid)
    state.put(account, "session_key", "c2Vzc2lvbi1rZXktMTIzNA==", ttl=600)
    return account


def kept(redis_server, account: str) -> list:
    state = AccountState(redis_server, STATE_KEY)
    return [state.get(account, name) for name in ("app_id", "openid", "session_key")]


# -- official samples ------------------------------------------------------------------------


def test_the_official_server_check_sample_gets_its_echostr(redis_server):
    wechat = make_platform(redis_server, apps=(SAMPLE_APP,), now=1714036504)
    reply = wechat.handle_webhook(WebhookRequest("GET", SAMPLE_GET, {}, b""))
    assert (reply.status, reply.body, reply.events) == (200, "4375120948345356249", ())


def test_the_official_safe_mode_sample_decrypts_with_wechatpy():
    plaintext = WeChatCrypto("spamtest", AES_KEY, CRYPT_APP.app_id).decrypt_message(
        CRYPT_BODY, CRYPT_MSG_SIGNATURE, CRYPT_TIMESTAMP, CRYPT_NONCE)
    message = xmltodict.parse(plaintext)["xml"]
    assert (message["ToUserName"], message["Content"], message["MsgId"]) == ("gh_10f6c3c3ac5a", "abcdteT",
                                                                             "6054768590064713728")


def test_the_official_safe_mode_sample_is_accepted_by_the_adapter(redis_server):
    wechat = make_platform(redis_server, apps=(CRYPT_APP,), now=int(CRYPT_TIMESTAMP))
    # The sample gives msg_signature only; `signature` is computed the documented way.
    query = {"signature": sign("spamtest", CRYPT_TIMESTAMP, CRYPT_NONCE), "timestamp": CRYPT_TIMESTAMP,
             "nonce": CRYPT_NONCE, "encrypt_type": "aes", "msg_signature": CRYPT_MSG_SIGNATURE}
    reply = wechat.handle_webhook(WebhookRequest("POST", query, {}, CRYPT_BODY))
    assert (reply.body, reply.events) == ("success", ())


def test_the_safe_mode_sample_with_a_wrong_msg_signature_is_refused(redis_server):
    wechat = make_platform(redis_server, apps=(CRYPT_APP,), now=int(CRYPT_TIMESTAMP))
    query = {"signature": sign("spamtest", CRYPT_TIMESTAMP, CRYPT_NONCE), "timestamp": CRYPT_TIMESTAMP,
             "nonce": CRYPT_NONCE, "encrypt_type": "aes", "msg_signature": "0" * 40}
    with pytest.raises(BadSignature):
        wechat.handle_webhook(WebhookRequest("POST", query, {}, CRYPT_BODY))


# -- revocations -----------------------------------------------------------------------------


@pytest.mark.parametrize("push", [
    lambda: plain_push(revoke_xml()),
    lambda: plain_push(revoke_json()),
    lambda: plain_push(revoke_json(event="user_authorization_cancellation")),
    lambda: safe_push(revoke_xml()),
    lambda: safe_push(revoke_json(), as_json=True),
], ids=["plain-xml", "plain-json", "plain-json-cancellation", "safe-xml", "safe-json"])
def test_a_revocation_names_the_account_and_forgets_its_state(wechat, redis_server, push):
    account = remembered(redis_server)
    bystander = remembered(redis_server, "o-user-2")

    reply = wechat.handle_webhook(push())

    assert (reply.status, reply.body, reply.content_type) == (200, "success", "text/plain")
    assert reply.events == (AccountRevoked(account),)
    assert kept(redis_server, account) == [None, None, None]
    assert kept(redis_server, bystander)[1] == "o-user-2"


def test_a_push_is_for_the_app_whose_token_signed_it(wechat, redis_server):
    account = remembered(redis_server, app=OTHER)
    reply = wechat.handle_webhook(plain_push(revoke_xml(app_id=OTHER.app_id), app=OTHER))
    assert reply.events == (AccountRevoked(account),)


def test_a_push_naming_another_app_than_its_signer_carries_no_event(wechat, redis_server):
    account = remembered(redis_server, app=OTHER)
    reply = wechat.handle_webhook(plain_push(revoke_xml(app_id=OTHER.app_id), app=APP))
    assert (reply.body, reply.events) == ("success", ())
    assert kept(redis_server, account)[1] == "o-user-1"


@pytest.mark.parametrize("body", [
    revoke_xml(event="user_info_modified"),
    "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType><Content>hi</Content></xml>",
    "not xml, not json",
])
def test_other_messages_are_acknowledged_without_events(wechat, redis_server, body):
    account = remembered(redis_server)
    reply = wechat.handle_webhook(plain_push(body))
    assert (reply.body, reply.events) == ("success", ())
    assert kept(redis_server, account)[1] == "o-user-1"


# -- refusals change nothing -----------------------------------------------------------------


def refused(wechat, redis_server, request):
    account = remembered(redis_server)
    with pytest.raises(BadSignature) as error:
        wechat.handle_webhook(request)
    assert error.value.message == Msg.BAD_SIGNATURE
    assert kept(redis_server, account) == [APP.app_id, "o-user-1", "c2Vzc2lvbi1rZXktMTIzNA=="]


def with_args(request: WebhookRequest, **changes) -> WebhookRequest:
    args = {**request.args, **changes}
    return WebhookRequest(request.method, {k: v for k, v in args.items() if v is not None}, {}, request.body)


@pytest.mark.parametrize("request_", [
    with_args(plain_push(revoke_xml()), signature="0" * 40),
    with_args(plain_push(revoke_xml()), signature=None),
    with_args(plain_push(revoke_xml()), timestamp=None),
    with_args(plain_push(revoke_xml()), nonce="another-nonce"),
    plain_push(revoke_xml(), app=WeChatApp("wx-unknown", "s", "not-our-token")),
    plain_push(revoke_xml(), timestamp=str(NOW - 301)),
    plain_push(revoke_xml(), timestamp=str(NOW + 301)),
    plain_push(revoke_xml(), timestamp="soon"),
    with_args(safe_push(revoke_xml()), msg_signature="0" * 40),
    with_args(safe_push(revoke_xml()), msg_signature=None),
    safe_push(revoke_xml(), app=WeChatApp(OTHER.app_id, "s", APP.token, "b" * 43)),
], ids=["bad", "missing", "no-timestamp", "nonce-changed", "unknown-token", "stale", "future", "nan",
        "bad-msg-signature", "no-msg-signature", "sealed-for-another-app"])
def test_a_bad_missing_or_stale_signature_is_refused(wechat, redis_server, request_):
    refused(wechat, redis_server, request_)


def test_a_replayed_callback_is_refused(wechat, redis_server):
    push = plain_push(revoke_xml(event="user_info_modified"))
    assert wechat.handle_webhook(push).body == "success"
    refused(wechat, redis_server, push)
    refused(wechat, redis_server, plain_push(revoke_xml()))  # same timestamp, nonce and signature


def test_a_replayed_server_check_is_refused(redis_server):
    wechat = make_platform(redis_server, apps=(SAMPLE_APP,), now=1714036504)
    wechat.handle_webhook(WebhookRequest("GET", SAMPLE_GET, {}, b""))
    with pytest.raises(BadSignature):
        wechat.handle_webhook(WebhookRequest("GET", SAMPLE_GET, {}, b""))


def test_a_server_check_with_a_bad_signature_is_refused(redis_server):
    wechat = make_platform(redis_server, apps=(SAMPLE_APP,), now=1714036504)
    with pytest.raises(BadSignature):
        wechat.handle_webhook(WebhookRequest("GET", {**SAMPLE_GET, "nonce": "1514711493"}, {}, b""))


@pytest.mark.parametrize("encrypt_type", ["aes", "raw"])
def test_the_signature_is_checked_before_the_body_is_read(wechat, redis_server, monkeypatch, encrypt_type):
    def must_not_read(text):
        raise AssertionError("body read before the signature was checked")

    monkeypatch.setattr(wechat_push, "decode_message", must_not_read)
    refused(wechat, redis_server, with_args(plain_push(revoke_xml(), encrypt_type=encrypt_type), signature="0" * 40))


def test_a_malformed_encoding_aes_key_fails_at_start_up(redis_server):
    with pytest.raises(ValueError, match="EncodingAESKey"):
        make_platform(redis_server, apps=(WeChatApp("wx-bad", "s", "t", "too-short"),))


def test_an_app_shows_no_secret_in_its_repr():
    assert "secret-one" not in repr(APP) and "push-token-one" not in repr(APP) and AES_KEY not in repr(APP)
