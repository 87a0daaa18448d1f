"""Alipay's pushed messages (消息服务, MsgAPI v1.1) at /webhooks/alipay: verified before read.

A message is an HTTP POST, form-encoded (or JSON), of `notify_id, utc_timestamp (ms),
msg_method, app_id, version, biz_content (a JSON string), charset, sign_type, sign`
(https://opendocs.alipay.com/open/b4f0d4cf_alipay.open.auth.userauth.cancelled). Its sign is
Alipay's RSA2 signature over the other parameters, sign_type excluded, sorted and joined k=v
with & (the SDK's verify(); whether v1.1 messages follow that rule is [UNCONFIRMED],
PLATFORMS.md §B4). Nothing but `sign` is read before that signature verifies against one of
our apps' Alipay public keys; then the message must be fresh and its notify_id new.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from adapters.platforms.alipay_gateway import AlipayClient
from adapters.platforms.state import ReplayGuard
from core.clock import Clock
from core.errors import BadSignature, Msg
from core.platforms import WebhookRequest

log = logging.getLogger("healthcode.platforms.alipay")

MAX_AGE = 2 * 86_400
"""How old a message may be: Alipay retries an unanswered one for about a day [UNCONFIRMED for
MsgAPI; its trade notifications retry over 25 h], so notify_ids are remembered that long."""
MAX_SKEW = 300
"""How far in the future a message's utc_timestamp may be (clock drift)."""


@dataclass(frozen=True)
class AlipayMessage:
    """A verified, fresh, first-seen message: its method, app and parsed biz_content."""

    method: str
    app_id: str
    biz: dict[str, Any]


def _refuse(why: str) -> BadSignature:
    log.info("alipay message refused: %s", why)
    return BadSignature(Msg.BAD_SIGNATURE)


def _header(headers: Mapping[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name), "")


def _fields(request: WebhookRequest) -> dict[str, Any]:
    """The message's parameters, as sent: form-encoded, or a JSON object."""
    try:
        text = request.body.decode("utf-8")
        if "json" in _header(request.headers, "content-type").lower():
            fields = json.loads(text)
            if not isinstance(fields, dict):
                raise ValueError("not an object")
            return fields
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:  # also UnicodeDecodeError
        raise _refuse("unparseable") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise _refuse("repeated parameter")  # which one did Alipay sign?
    return fields


def _biz(value: Any) -> dict[str, Any]:
    try:
        biz = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        log.warning("alipay message with an unreadable biz_content")
        return {}
    return biz


class MessageVerifier:
    """Turns a webhook request into an AlipayMessage, or BadSignature (nothing else read)."""

    def __init__(self, clients: Mapping[str, AlipayClient], guard: ReplayGuard, clock: Clock,
                 max_age: int = MAX_AGE) -> None:
        self._clients = clients
        self._guard = guard
        self._clock = clock
        self._max_age = max_age

    def verified(self, request: WebhookRequest) -> AlipayMessage:
        fields = _fields(request)
        sign = fields.pop("sign", None)
        if not isinstance(sign, str) or not sign:
            raise _refuse("no sign")
        # Which app's key signed it is known only once one verifies: try each configured app.
        signed_for = {app_id for app_id, client in self._clients.items() if client.verify_params(fields, sign)}
        if not signed_for:
            raise _refuse("bad sign")
        biz = _biz(fields.get("biz_content"))
        app_id = str(fields.get("app_id") or biz.get("app_id") or next(iter(signed_for)))
        if app_id not in signed_for:
            raise _refuse("signed with another app's key")
        self._check_fresh(fields.get("utc_timestamp"))
        notify_id = fields.get("notify_id")
        if not isinstance(notify_id, str) or not notify_id:
            raise _refuse("no notify_id")
        if not self._guard.first_time("alipay-notify", notify_id, ttl=self._max_age + MAX_SKEW):
            raise _refuse("replayed notify_id")
        return AlipayMessage(method=str(fields.get("msg_method") or ""), app_id=app_id, biz=biz)

    def _check_fresh(self, utc_timestamp: Any) -> None:
        """A message older than the replay window would pass the replay guard again: refuse it
        (utc_timestamp is required in MsgAPI messages)."""
        try:
            sent = int(utc_timestamp) / 1000
        except (TypeError, ValueError):
            raise _refuse("unreadable utc_timestamp") from None
        now = self._clock.now()
        if not now - self._max_age <= sent <= now + MAX_SKEW:
            raise _refuse("stale")
