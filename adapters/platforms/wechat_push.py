"""WeChat message push (消息推送) to /webhooks/wechat: proof that a callback came from WeChat, then
its message, decrypted and decoded.

WeChat's rules (https://developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html,
https://developers.weixin.qq.com/doc/oplatform/developers/dev/push/encryption.md, PLATFORMS.md A5):
- every callback carries `signature` = sha1 of the sorted (Token, timestamp, nonce); a GET with
  `echostr` is the console's server check and is answered with echostr unchanged;
- safe mode (`encrypt_type=aes`) adds `msg_signature` = sha1 of the sorted (Token, timestamp,
  nonce, Encrypt); the body is {ToUserName, Encrypt} as XML or JSON, and Encrypt opens with
  wechatpy's `WeChatCrypto` (AES-256-CBC under the EncodingAESKey, the app id trailer checked);
- the body is XML or JSON, as chosen in the console (wechatpy's parse_message reads XML only).

Ours: `signature` is checked before the body is read at all; a timestamp more than 5 minutes from
our clock, or a (timestamp, nonce, signature) seen before (ReplayGuard), is refused like a bad
signature, so a captured callback cannot be played again.
"""
from __future__ import annotations

import hmac
import json
import logging
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from xml.parsers.expat import ExpatError

import xmltodict  # type: ignore[import-untyped]
from wechatpy.crypto import WeChatCrypto  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatException  # type: ignore[import-untyped]
from wechatpy.utils import WeChatSigner  # type: ignore[import-untyped]

from adapters.platforms.state import ReplayGuard
from core.clock import Clock
from core.errors import BadSignature, Msg
from core.platforms import WebhookRequest

log = logging.getLogger(__name__)

FRESHNESS = 300
"""Seconds a callback's timestamp may be from our clock, either way (5 minutes)."""
REPLAY_SCOPE = "wechat-push"


class PushApp(Protocol):
    """What a mini-program's message push is configured with (the console's 消息推送 page)."""

    @property
    def app_id(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def encoding_aes_key(self) -> str | None: ...


@dataclass(frozen=True)
class VerifiedPush:
    """A callback that WeChat sent and that we had not seen: the server check's echostr, or a message.

    `app_id` is the configured app the push is for: the one whose key decrypted it, or whose token
    signed it; None when that is ambiguous (apps sharing a token) or the message names another app.
    """

    app_id: str | None
    message: Mapping[str, Any] = field(default_factory=dict)
    echostr: str | None = None


class MessagePush:
    """Verifies and decodes WeChat's message push for a set of configured apps."""

    def __init__(self, apps: Sequence[PushApp], guard: ReplayGuard, clock: Clock) -> None:
        self._apps = tuple(apps)
        self._guard = guard
        self._clock = clock
        for app in self._apps:
            if app.encoding_aes_key is not None:
                _crypto(app)  # a malformed EncodingAESKey fails at start-up, not on the first push

    def verify(self, request: WebhookRequest) -> VerifiedPush:
        """The callback, once proven WeChat's and new; BadSignature for anything else."""
        signature, timestamp, nonce = _signed_params(request.args)
        signers = [app for app in self._apps if _signed(app.token, signature, timestamp, nonce)]
        if not signers:
            raise _refused("signature matches no configured app's token")
        self._check_fresh(timestamp)
        opened_by: PushApp | None = None
        plaintext = ""
        if request.method.upper() == "POST":
            if request.args.get("encrypt_type", "raw").lower() == "aes":
                opened_by, plaintext = _decrypt(request, signers, timestamp, nonce)
            else:
                plaintext = request.body.decode("utf-8", "replace")
        if not self._guard.first_time(REPLAY_SCOPE, f"{timestamp}:{nonce}:{signature}", ttl=2 * FRESHNESS):
            raise _refused("replayed callback")
        if request.method.upper() != "POST":
            return VerifiedPush(_only_id(signers), echostr=request.args.get("echostr", ""))
        message = decode_message(plaintext)
        return VerifiedPush(_app_for(signers, opened_by, message), message)

    def _check_fresh(self, timestamp: str) -> None:
        try:
            sent = int(timestamp)
        except ValueError:
            raise _refused("timestamp is not a number") from None
        if abs(self._clock.now() - sent) > FRESHNESS:
            raise _refused("timestamp outside the 5-minute window")


def decode_message(text: str) -> dict[str, Any]:
    """The fields of a pushed message, XML or JSON; {} when it is neither.

    Keys are stripped: the official JSON example writes " OpenID" and " AppID" with a space."""
    try:
        if text.lstrip().startswith("{"):
            fields = json.loads(text)
        else:
            fields = xmltodict.parse(text)["xml"]  # entities are off by default in xmltodict
    except (ValueError, ExpatError, KeyError, TypeError):
        log.warning("wechat push: undecodable message body")
        return {}
    if not isinstance(fields, dict):
        return {}
    return {str(key).strip(): value for key, value in fields.items()}


def _signed_params(args: Mapping[str, str]) -> tuple[str, str, str]:
    signature, timestamp, nonce = (args.get(name, "") for name in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise _refused("signature, timestamp or nonce missing")
    return signature, timestamp, nonce


def _signed(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    signer = WeChatSigner()
    signer.add_data(token, timestamp, nonce)
    return hmac.compare_digest(str(signer.signature), signature.lower())


def _decrypt(request: WebhookRequest, signers: Sequence[PushApp], timestamp: str,
             nonce: str) -> tuple[PushApp, str]:
    """Safe mode: the app whose key opens the envelope (msg_signature and app id checked) and the plaintext."""
    msg_signature = request.args.get("msg_signature", "")
    envelope = decode_message(request.body.decode("utf-8", "replace"))
    if not msg_signature or not isinstance(envelope.get("Encrypt"), str):
        raise _refused("safe mode without msg_signature or Encrypt")
    for app in signers:
        if app.encoding_aes_key is None:
            continue
        try:
            return app, str(_crypto(app).decrypt_message(envelope, msg_signature, timestamp, nonce))
        except (WeChatException, ValueError, IndexError, struct.error):
            continue  # a wrong msg_signature, key or app id: try the next app with this token
    raise _refused("msg_signature or ciphertext does not verify")


def _crypto(app: PushApp) -> Any:
    try:
        return WeChatCrypto(app.token, app.encoding_aes_key, app.app_id)
    except (AssertionError, ValueError):
        raise ValueError(f"wechat app {app.app_id}: EncodingAESKey must be 43 base64 characters") from None


def _app_for(signers: Sequence[PushApp], opened_by: PushApp | None, message: Mapping[str, Any]) -> str | None:
    """The app a message is for: among those that proved it, the one it names (AppID), else the only one."""
    candidates = [opened_by] if opened_by else list(signers)
    named = message.get("AppID")
    if named:
        return str(named) if any(app.app_id == named for app in candidates) else None
    return _only_id(candidates)


def _only_id(apps: Sequence[PushApp]) -> str | None:
    ids = {app.app_id for app in apps}
    return ids.pop() if len(ids) == 1 else None


def _refused(reason: str) -> BadSignature:
    log.info("wechat push refused: %s", reason)
    return BadSignature(Msg.BAD_SIGNATURE)
