"""The Alipay platform (支付宝小程序) on python-alipay-sdk ≥ 3.4 (RSA2, public-key mode).

Login (alipay.system.oauth.token), phone authorization (my.getPhoneNumber, alipay_phone), the
face check (alipay.user.certify.open.*), template messages, and the authorization-cancelled
message (alipay_messages). Facts and SDK traps: PLATFORMS.md §B and alipay_gateway.

Kept per account in AccountState, sealed: `alipay-user`, the app and the Alipay user id (or
open_id) it logged in with, for `account_ttl` and refreshed at each login, for messages and the
face check; the face check's certify_id (IdentityTickets). A cancelled authorization forgets both.
"""
from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.platforms import alipay_phone
from adapters.platforms.alipay_gateway import BEIJING, BUSINESS_FAILED, AlipayClient, AlipayRefused, log
from adapters.platforms.alipay_messages import MessageVerifier
from adapters.platforms.checks import IdentityTickets, app_of, login_code
from adapters.platforms.state import AccountState, ReplayGuard
from core.clock import Clock, SystemClock
from core.errors import Forbidden, InvalidInput, InvalidLoginCode, Msg, PlatformUnavailable, Unauthorized
from core.platforms import (
    AccountIds,
    AccountRevoked,
    ColorNotice,
    IdentityCheck,
    PlatformIdentity,
    WebhookReply,
    WebhookRequest,
)

DEFAULT_GATEWAY = "https://openapi.alipay.com/gateway.do"
USER_FIELD = "alipay-user"
CANCELLED = "alipay.open.auth.userauth.cancelled"
# sub_code of a login code that is wrong, used or expired (授权码错误、状态不对或过期); every
# other refusal of oauth.token (isv.invalid-app-id, isv.grant-type-invalid …) is ours to fix.
CODE_REFUSED = frozenset({"isv.code-invalid"})
# keyword2 of the colour-change message (keyword1 the masked name, keyword3 the time): the
# template chosen in Alipay's console must list its keywords in that order.
COLOR_LABELS = {"green": "绿码", "yellow": "黄码", "red": "红码"}


@dataclass(frozen=True)
class AlipayApp:
    """One Alipay mini-program: its keys (PEM, or the console's bare base64) and options.

    `aes_key_b64`: the content-encryption key my.getPhoneNumber needs; `notify_template_id`:
    the subscription-message template for colour changes; `certify_return_url`: where the face
    check returns (default: back into this mini-program); `notify_page`: the page a message
    opens, `{person_id}` filled in.
    """

    app_id: str
    app_private_key_pem: str = field(repr=False)
    alipay_public_key_pem: str
    aes_key_b64: str | None = field(default=None, repr=False)
    notify_template_id: str | None = None
    certify_return_url: str | None = None
    notify_page: str | None = None

    def __post_init__(self) -> None:
        if not self.app_id:
            raise ValueError("an Alipay app needs its app_id")
        if self.aes_key_b64 is not None:
            alipay_phone.aes_key(self.aes_key_b64)  # refuse a broken key at start-up, not per user

    @property
    def return_url(self) -> str:
        return self.certify_return_url or f"alipays://platformapi/startapp?appId={self.app_id}"


@dataclass(frozen=True)
class _Account:
    """Who an account is on Alipay: the app, and the user id (or open_id, for new apps)."""

    app_id: str
    user_id: str
    is_open_id: bool


class AlipayPlatform:
    """PlatformAdapter and Notifier for Alipay mini-programs."""

    name = "alipay"

    def __init__(self, apps: Sequence[AlipayApp], ids: AccountIds, state: AccountState, guard: ReplayGuard,
                 gateway: str = DEFAULT_GATEWAY, timeout: float = 10.0, *, clock: Clock | None = None,
                 account_ttl: int = 180 * 86_400, certify_ttl: int = 1_800) -> None:
        if not apps:
            raise ValueError("AlipayPlatform needs at least one app")
        self._apps = {app.app_id: app for app in apps}
        clock = clock or SystemClock()
        self._clients = {app.app_id: AlipayClient(app.app_id, app.app_private_key_pem, app.alipay_public_key_pem,
                                                  gateway, timeout, clock) for app in apps}
        self._ids = ids
        self._state = state
        self._account_ttl = account_ttl
        self._tickets = IdentityTickets(state, certify_ttl)
        self._messages = MessageVerifier(self._clients, guard, clock)

    # -- login ------------------------------------------------------------------------------

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        """my.getAuthCode's code → the account (alipay.system.oauth.token)."""
        code = login_code(code, 128)
        app = app_of(self._apps, app_id)
        try:
            # grant_type and code are top-level parameters, not biz_content (PLATFORMS.md §B1).
            token = self._clients[app.app_id].call("alipay.system.oauth.token",
                                                   grant_type="authorization_code", code=code)
        except AlipayRefused as refused:
            raise self._login_refused(refused) from None
        user_id, open_id = token.get("user_id"), token.get("open_id")
        if not (user_id or open_id):
            raise PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)
        # Apps created since the open_id migration get open_id only; older ones get user_id.
        account = _Account(app.app_id, str(user_id or open_id), is_open_id=not user_id)
        identity = PlatformIdentity.of(self._ids, self.name, app.app_id, account.user_id)
        self._state.put(identity.account_id, USER_FIELD, json.dumps(account.__dict__), ttl=self._account_ttl)
        return identity

    @staticmethod
    def _login_refused(refused: AlipayRefused) -> Exception:
        log.info("alipay login refused: %s %s", refused.code, refused.sub_code)
        if refused.sub_code in CODE_REFUSED:
            return InvalidLoginCode(Msg.INVALID_LOGIN_CODE)
        return PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)

    def _account(self, account_id: str) -> _Account | None:
        sealed = self._state.get(account_id, USER_FIELD)
        if sealed is None:
            return None
        account = _Account(**json.loads(sealed))
        return account if account.app_id in self._apps else None  # an app since removed

    def _client_for(self, account_id: str) -> tuple[_Account, AlipayClient]:
        account = self._account(account_id)
        if account is None:
            raise Unauthorized(Msg.LOGIN_REQUIRED)  # forgotten since the login: log in again
        return account, self._clients[account.app_id]

    # -- phone ------------------------------------------------------------------------------

    def phone_number(self, account_id: str, proof: Mapping[str, str]) -> str:
        """`{"response": <my.getPhoneNumber's response string>}` → the mobile number.

        No seen-once rule: a proof is deterministic (fixed plaintext, zero IV, PKCS#1 v1.5
        signature), so the same user's second authorization is byte-identical to the first.
        """
        account, client = self._client_for(account_id)
        aes_key_b64 = self._apps[account.app_id].aes_key_b64
        if aes_key_b64 is None:
            log.warning("alipay app %s has no AES key: phone authorization is off", account.app_id)
            raise InvalidInput(Msg.PHONE_PROOF_INVALID)
        return alipay_phone.mobile_of(proof, client, alipay_phone.aes_key(aes_key_b64))

    # -- face check (实名核身) ----------------------------------------------------------------

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        """alipay.user.certify.open.initialize, then the signed certify page URL for the mini-program
        (my.startAPVerify opens it with the certify_id)."""
        account, client = self._client_for(account_id)
        biz = {
            "outer_order_no": secrets.token_hex(16),  # 32 alphanumerics, unique per request
            "biz_code": "FACE",
            "identity_param": {"identity_type": "CERT_INFO", "cert_type": "IDENTITY_CARD",
                               "cert_name": name, "cert_no": id_number},
            "merchant_config": {"return_url": self._apps[account.app_id].return_url},
        }
        try:
            reply = client.call("alipay.user.certify.open.initialize", biz)
        except AlipayRefused as refused:
            raise self._check_refused(refused) from None
        certify_id = reply.get("certify_id")
        if not isinstance(certify_id, str) or not certify_id:
            raise PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)
        self._tickets.bind(account_id, certify_id, name, id_number)
        url = client.page_url("alipay.user.certify.open.certify", {"certify_id": certify_id})
        return IdentityCheck(ticket=certify_id, expires_in=self._tickets.ttl, url=url)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """alipay.user.certify.open.query: passed == "T", for the account's own certify_id only."""
        if not self._tickets.matches(account_id, ticket, name, id_number):
            return False
        _, client = self._client_for(account_id)
        try:
            reply = client.call("alipay.user.certify.open.query", {"certify_id": ticket})
        except AlipayRefused as refused:
            if refused.code == BUSINESS_FAILED:
                return False
            raise self._check_refused(refused) from None
        passed = reply.get("passed") == "T"
        if passed:
            self._tickets.release(account_id)
        return passed

    @staticmethod
    def _check_refused(refused: AlipayRefused) -> Exception:
        log.info("alipay %s refused: %s %s", refused.api, refused.code, refused.sub_code)
        if refused.code == BUSINESS_FAILED:
            return Forbidden(Msg.IDENTITY_FAILED)  # e.g. a name and ID number Alipay cannot check
        return PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)

    # -- messages ---------------------------------------------------------------------------

    def notify(self, account_id: str, notice: ColorNotice) -> bool:
        """A subscription message (alipay.open.app.mini.templatemessage.send) to the account's user."""
        account = self._account(account_id)
        app = self._apps[account.app_id] if account else None
        if account is None or app is None or not app.notify_template_id:
            return False  # an unknown (or forgotten) user, or no template: nobody to reach
        biz = _template_message(account, app, notice)
        try:
            self._clients[app.app_id].call("alipay.open.app.mini.templatemessage.send", biz)
        except AlipayRefused as refused:
            log.info("alipay message refused: %s %s", refused.code, refused.sub_code)
            if refused.code == BUSINESS_FAILED:
                return False  # not subscribed, unknown user, over the user's quota …
            raise PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE) from None
        return True

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        """A verified message; a cancelled authorization revokes the account and forgets it."""
        message = self._messages.verified(request)
        if message.method != CANCELLED:
            return WebhookReply(body="success")
        user_id = message.biz.get("user_id") or message.biz.get("open_id")
        app_id = str(message.biz.get("app_id") or message.app_id)
        if not user_id or app_id != message.app_id:
            log.warning("alipay cancellation without a user of the signing app")
            return WebhookReply(body="success")
        account_id = self._ids.account_id(self.name, app_id, str(user_id))
        self._state.forget(account_id, USER_FIELD, IdentityTickets.FIELD)
        return WebhookReply(body="success", events=(AccountRevoked(account_id),))


def _template_message(account: _Account, app: AlipayApp, notice: ColorNotice) -> dict[str, Any]:
    """The message: masked name, colour and time (Asia/Shanghai) as keyword1..3; no reasons."""
    when = dt.datetime.fromtimestamp(notice.at, BEIJING).strftime("%Y-%m-%d %H:%M")
    data = {"keyword1": {"value": notice.name_masked},
            "keyword2": {"value": COLOR_LABELS.get(notice.color, notice.color)},
            "keyword3": {"value": when}}
    # to_open_id for apps that only know open_ids: the open_id migration's counterpart of
    # to_user_id [UNCONFIRMED for this API; the SDK models list only to_user_id].
    biz: dict[str, Any] = {"to_open_id" if account.is_open_id else "to_user_id": account.user_id,
                           "user_template_id": app.notify_template_id,
                           "data": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
    if app.notify_page:
        biz["page"] = app.notify_page.format(person_id=notice.person_id)
    return biz
