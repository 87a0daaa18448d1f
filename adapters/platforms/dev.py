"""The built-in `dev` platform: any non-empty code logs in as the account it names.

For local use and tests only; the settings refuse it when HEALTHCODE_ENV=production.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping

from core.errors import InvalidInput, Msg, NotFound
from core.platforms import AccountIds, IdentityCheck, PlatformIdentity, WebhookReply, WebhookRequest


class DevPlatform:
    name = "dev"

    def __init__(self, ids: AccountIds) -> None:
        self._ids = ids

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        code = (code or "").strip()
        if not code or len(code) > 64:
            raise InvalidInput(Msg.INVALID_LOGIN_CODE, {"code": [Msg.LENGTH_1_64]})
        return PlatformIdentity.of(self._ids, "dev", "dev", code)

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        return IdentityCheck(ticket="dev-" + secrets.token_urlsafe(12), expires_in=3600)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        # The dev face check passes for any ticket but "fail", so tests can take both paths.
        return bool(ticket) and ticket != "fail"

    def phone_number(self, account_id: str, proof: Mapping[str, str]) -> str:
        """dev vouches for whatever phone it is given (`{"phone": "138…"}`)."""
        phone = str(proof.get("phone", "")).strip()
        if not phone:
            raise InvalidInput(Msg.PHONE_PROOF_INVALID, {"phone_code": [Msg.REQUIRED]})
        return phone

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        raise NotFound(Msg.NO_SUCH_WEBHOOK)
