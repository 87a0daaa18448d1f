"""The built-in `dev` platform: any non-empty code logs in as the account it names.

For local use and tests only; create_app refuses it when HEALTHCODE_ENV=production.
"""
from __future__ import annotations

from core.errors import InvalidInput, Msg
from core.identity import PlatformIdentity


class DevPlatform:
    name = "dev"

    def login(self, code: str) -> PlatformIdentity:
        code = (code or "").strip()
        if not code or len(code) > 64:
            raise InvalidInput(Msg.INVALID_LOGIN_CODE, {"code": [Msg.LENGTH_1_64]})
        return PlatformIdentity(platform="dev", app_id="dev", user_id=code)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        # The dev face check passes for any ticket but "fail", so tests can take both paths.
        return bool(ticket) and ticket != "fail"
