"""No SMS provider configured (production without one): sending answers 503, nothing stored."""
from __future__ import annotations

from core.errors import Msg, PlatformUnavailable


class NoSms:
    def send_code(self, phone: str, code: str) -> None:
        raise PlatformUnavailable(Msg.SMS_NOT_CONFIGURED)
