"""The WeChat platform: mini-program login, phone authorization, face check (人脸核身 v2),
subscribe messages and message push, on wechatpy (PLATFORMS.md A; calls in wechat_api.py, push
in wechat_push.py).

What is kept server-side (AccountState, sealed, per account): `app_id` and `openid` until the
user revokes the authorization (notifications and the face check need them), the `session_key`
for `session_ttl` seconds (it opens encryptedData; never returned, never logged), and one entry
per face-check ticket for as long as WeChat keeps the ticket. Nothing else: openid, session key,
name and ID number never reach a log line.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from wechatpy.crypto import WeChatWxaCrypto  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatException  # type: ignore[import-untyped]

from adapters.platforms.state import AccountState, ReplayGuard
from adapters.platforms.wechat_api import Refused, WeChatApi, redact_query_strings, unavailable
from adapters.platforms.wechat_push import MessagePush, VerifiedPush
from core.clock import Clock, SystemClock
from core.errors import InvalidInput, InvalidLoginCode, LoginRefused, Message, Msg, Unauthorized
from core.persons import CN_TZ
from core.platforms import (
    AccountIds,
    AccountRevoked,
    ColorNotice,
    IdentityCheck,
    PlatformIdentity,
    WebhookReply,
    WebhookRequest,
)

log = logging.getLogger(__name__)

PLATFORM = "wechat"
ACCOUNT_FIELDS = ("app_id", "openid", "session_key")

# code2Session (https://developers.weixin.qq.com/miniprogram/dev/server/API/user-login/api_code2session):
# 40029 invalid code; 40163 code been used (seen in practice, PLATFORMS.md A1); 40226 high-risk user.
BAD_LOGIN_CODE = frozenset({40029, 40163})
HIGH_RISK_USER = 40226
# getuserphonenumber: 40029 invalid code (single-use, valid 5 minutes).
BAD_PHONE_CODE = frozenset({40029, 40163})
# subscribeMessage.send: 43101 the user refused the message or did not subscribe (PLATFORMS.md A4).
NOT_SUBSCRIBED = 43101
# queryVerifyInfo: only verify_ret 10000 is a pass; 9000x are cancellations and failures (A6).
FACE_PASSED = 10000
FACE_TICKET_TTL = 3600  # getVerifyId's default expires_in
CERT_TYPE = "IDENTITY_CARD"
COLOR_WORDS = {"green": "绿码", "yellow": "黄码", "red": "红码"}


@dataclass(frozen=True)
class WeChatApp:
    """One mini-program: its credentials (开发管理 → 开发设置) and message push settings.

    Secrets stay out of repr(), so an app in a log line or a traceback shows its id only."""

    app_id: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)
    subscribe_template_id: str | None = None
    subscribe_page: str | None = None


class WeChatPlatform:
    """PlatformAdapter and Notifier for WeChat mini-programs (the first app is the default)."""

    name = PLATFORM

    def __init__(self, apps: Sequence[WeChatApp], *, ids: AccountIds, state: AccountState,
                 guard: ReplayGuard, redis: redis.Redis, session_ttl: int,
                 api_base: str = "https://api.weixin.qq.com/", timeout: float = 5,
                 clock: Clock | None = None) -> None:
        if not apps:
            raise ValueError("wechat needs at least one mini-program app")
        self._apps = {app.app_id: app for app in apps}
        self._default = apps[0].app_id
        self._ids = ids
        self._state = state
        self._session_ttl = session_ttl
        self._apis = {app.app_id: WeChatApi(app, redis, api_base, timeout) for app in apps}
        self._push = MessagePush(apps, guard, clock or SystemClock())
        redact_query_strings()

    # -- login -------------------------------------------------------------------------------

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        """code2Session: the account behind a wx.login code; its session key kept, never returned."""
        api = self._api(app_id)
        code = (code or "").strip()
        if not code or len(code) > 64:
            raise InvalidInput(Msg.INVALID_LOGIN_CODE, {"code": [Msg.LENGTH_1_64]})
        try:
            # A code is single-use: once the request reached WeChat it is never sent again.
            reply = api.call(lambda client: client.wxa.code_to_session(code), repeatable=False,
                             expected=BAD_LOGIN_CODE | {HIGH_RISK_USER})
        except Refused as refusal:
            if refusal.errcode == HIGH_RISK_USER:
                raise LoginRefused(Msg.LOGIN_REFUSED) from None
            raise InvalidLoginCode(Msg.INVALID_LOGIN_CODE) from None
        openid, session_key = reply.get("openid"), reply.get("session_key")
        if not isinstance(openid, str) or not openid or not isinstance(session_key, str) or not session_key:
            log.warning("wechat %s: code2Session reply without openid or session_key", api.app_id)
            raise unavailable()
        unionid = reply.get("unionid") if isinstance(reply.get("unionid"), str) else None
        identity = PlatformIdentity.of(self._ids, PLATFORM, api.app_id, openid, unionid or None)
        self._state.put(identity.account_id, "app_id", api.app_id)
        self._state.put(identity.account_id, "openid", openid)
        self._state.put(identity.account_id, "session_key", session_key, ttl=self._session_ttl)
        return identity

    # -- phone authorization -----------------------------------------------------------------

    def phone_number(self, account_id: str, proof: Mapping[str, str]) -> str:
        """The phone WeChat vouches for: a getPhoneNumber `code`, or the older
        `encrypted_data` + `iv` opened with the session key."""
        app_id = self._state.get(account_id, "app_id")
        if app_id is None or app_id not in self._apps:
            raise _phone_proof_invalid("no wechat app known for the account")
        if proof.get("code"):
            return self._phone_by_code(self._apis[app_id], str(proof["code"]))
        if proof.get("encrypted_data") and proof.get("iv"):
            return self._phone_by_encrypted_data(account_id, app_id, proof["encrypted_data"], proof["iv"])
        raise InvalidInput(Msg.PHONE_PROOF_INVALID, {"code": [Msg.REQUIRED]})

    def _phone_by_code(self, api: WeChatApi, code: str) -> str:
        # Not in wechatpy 1.8.18 (PLATFORMS.md A2): POST wxa/business/getuserphonenumber {"code"},
        # https://developers.weixin.qq.com/miniprogram/dev/server/API/user-info/phone-number/api_getphonenumber
        try:
            reply = api.post("wxa/business/getuserphonenumber", {"code": code}, expected=BAD_PHONE_CODE)
        except Refused:
            raise _phone_proof_invalid("phone code refused") from None
        info = reply.get("phone_info")
        if not isinstance(info, dict):
            raise _phone_proof_invalid("reply without phone_info")
        return _pure_phone(info, api.app_id)

    def _phone_by_encrypted_data(self, account_id: str, app_id: str, encrypted_data: str, iv: str) -> str:
        session_key = self._state.get(account_id, "session_key")
        if session_key is None:
            raise _phone_proof_invalid("session key expired; log in again")
        try:
            # Checks watermark.appid against the app (InvalidAppIdException), not the timestamp.
            info = WeChatWxaCrypto(session_key, iv, app_id).decrypt_message(encrypted_data)
        except (WeChatException, ValueError, KeyError, TypeError, IndexError):
            raise _phone_proof_invalid("encrypted data does not open for this app and session") from None
        if not isinstance(info, dict):
            raise _phone_proof_invalid("encrypted data is not an object")
        return _pure_phone(info, app_id)

    # -- face check (人脸核身 v2) --------------------------------------------------------------

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        """getVerifyId for this person; the mini-program passes the ticket to wx.requestFacialVerify.
        https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_getverifyid"""
        api, openid = self._account(account_id)
        # Unique per app, 5–32 characters of [0-9A-Za-z_-]: 32 hex digits.
        out_seq_no = secrets.token_hex(16)
        reply = api.post("cityservice/face/identify/getverifyid", {
            "out_seq_no": out_seq_no,
            "cert_info": {"cert_type": CERT_TYPE, "cert_name": name, "cert_no": id_number},
            "openid": openid,
        })
        verify_id = reply.get("verify_id")
        if not isinstance(verify_id, str) or not verify_id:
            raise unavailable()
        expires_in = reply.get("expires_in")
        ttl = expires_in if isinstance(expires_in, int) and expires_in > 0 else FACE_TICKET_TTL
        # The ticket verifies only the person it was begun for: keep that person's cert_hash too.
        ticket = {"out_seq_no": out_seq_no, "cert_hash": cert_hash(name, id_number)}
        self._state.put(account_id, _ticket_field(verify_id), json.dumps(ticket), ttl=ttl)
        return IdentityCheck(ticket=verify_id, expires_in=ttl)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """queryVerifyInfo: True only for errcode 0 and verify_ret 10000.
        https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo"""
        kept = self._state.get(account_id, _ticket_field(ticket)) if ticket else None
        if kept is None:
            return False  # not a ticket this account began, or expired
        begun = json.loads(kept)
        hashed = cert_hash(name, id_number)
        if not secrets.compare_digest(begun["cert_hash"], hashed):
            return False  # begun for another person
        api, openid = self._account(account_id)
        reply = api.post("cityservice/face/identify/queryverifyinfo", {
            "verify_id": ticket, "out_seq_no": begun["out_seq_no"], "cert_hash": hashed, "openid": openid,
        })
        return reply.get("errcode", 0) == 0 and reply.get("verify_ret") == FACE_PASSED

    # -- notifications -----------------------------------------------------------------------

    def notify(self, account_id: str, notice: ColorNotice) -> bool:
        """A subscribe message about a colour change; False when the user cannot be reached.

        Template fields (configure the template with these keywords): thing1 = masked name,
        phrase2 = colour word (绿码/黄码/红码), time3 = time of the change, Asia/Shanghai.
        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
        """
        app_id, openid = self._state.get(account_id, "app_id"), self._state.get(account_id, "openid")
        app = self._apps.get(app_id or "")
        if app is None or openid is None or not app.subscribe_template_id:
            return False
        data = subscribe_data(notice)
        try:
            self._apis[app.app_id].call(
                lambda client: client.wxa.send_subscribe_message(openid, app.subscribe_template_id, data,
                                                                 page=app.subscribe_page),
                expected={NOT_SUBSCRIBED})
        except Refused:
            return False
        return True

    # -- message push ------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        """Message push at /webhooks/wechat: the server check's echostr, or "success" (unencrypted)
        with the authorization revocations the push carried; their account state is forgotten."""
        push = self._push.verify(request)
        if push.echostr is not None:
            return WebhookReply(body=push.echostr)
        return WebhookReply(body="success", events=self._revocations(push))

    def _revocations(self, push: VerifiedPush) -> tuple[AccountRevoked, ...]:
        # user_authorization_revoke / user_authorization_cancellation (授权用户信息变更,
        # https://developers.weixin.qq.com/miniprogram/dev/server/event_push/platform/authorized_user_information_changes)
        event = str(push.message.get("Event", "")).lower()
        openid = push.message.get("OpenID")
        if event not in ("user_authorization_revoke", "user_authorization_cancellation"):
            return ()
        if push.app_id is None or not isinstance(openid, str) or not openid:
            log.warning("wechat push: %s for no configured app or without OpenID", event)
            return ()
        account_id = self._ids.account_id(PLATFORM, push.app_id, openid)
        self._state.forget(account_id, *ACCOUNT_FIELDS)
        return (AccountRevoked(account_id),)

    # -- helpers -----------------------------------------------------------------------------

    def _api(self, app_id: str | None) -> WeChatApi:
        api = self._apis.get(app_id or self._default)
        if api is None:
            choices = ", ".join(self._apis)
            raise InvalidInput(Msg.REQUEST_INVALID, {"app_id": [Message(Msg.ONE_OF, choices=choices)]})
        return api

    def _account(self, account_id: str) -> tuple[WeChatApi, str]:
        """The account's app and openid, kept since its login; gone after a revocation."""
        app_id, openid = self._state.get(account_id, "app_id"), self._state.get(account_id, "openid")
        if app_id not in self._apis or openid is None:
            raise Unauthorized(Msg.LOGIN_REQUIRED)
        return self._apis[str(app_id)], openid


def cert_hash(name: str, id_number: str, cert_type: str = CERT_TYPE) -> str:
    """queryVerifyInfo's cert_hash: sha256-hex of cert_type=<b64>&cert_name=<b64>&cert_no=<b64>,
    each the standard base64 of its UTF-8 (PLATFORMS.md A6)."""
    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    text = f"cert_type={b64(cert_type)}&cert_name={b64(name)}&cert_no={b64(id_number)}"
    return hashlib.sha256(text.encode()).hexdigest()


def subscribe_data(notice: ColorNotice) -> dict[str, dict[str, str]]:
    """The subscribe message's fields: thing ≤ 20 characters, phrase ≤ 5 (订阅消息参数值内容限制)."""
    when = dt.datetime.fromtimestamp(notice.at, CN_TZ)
    return {
        "thing1": {"value": notice.name_masked[:20] or "-"},
        "phrase2": {"value": COLOR_WORDS.get(notice.color, notice.color)[:5]},
        "time3": {"value": f"{when.year}年{when.month}月{when.day}日 {when:%H:%M}"},
    }


def _ticket_field(ticket: str) -> str:
    # verify_id may be 256 characters and comes back from the client: key by its digest.
    return "face:" + hashlib.sha256(ticket.encode()).hexdigest()[:32]


def _pure_phone(info: Mapping[str, Any], app_id: str) -> str:
    watermark = info.get("watermark")
    if isinstance(watermark, dict) and watermark.get("appid") not in (None, app_id):
        raise _phone_proof_invalid("watermark names another app")
    phone = info.get("purePhoneNumber")
    if not isinstance(phone, str) or not phone.isdigit():
        raise _phone_proof_invalid("no phone number in the proof")
    # purePhoneNumber has no country code: a number from abroad must not pass for a mainland one.
    if str(info.get("countryCode", "86")) != "86":
        raise _phone_proof_invalid("not a mainland China number")
    return phone


def _phone_proof_invalid(reason: str) -> InvalidInput:
    log.info("wechat phone proof refused: %s", reason)
    return InvalidInput(Msg.PHONE_PROOF_INVALID)
