"""The console SMS sender, for local use: the code goes to the terminal, never to a phone.

Refused in production (config): codes are secrets; here the developer is the phone's owner.
"""
from __future__ import annotations

import sys

from core.identity import mask_phone


class ConsoleSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (phone, code), for tests and the browser test

    def send_code(self, phone: str, code: str) -> None:
        self.sent.append((phone, code))
        print(f"[SMS to {mask_phone(phone)}] 您的验证码是 {code}，5 分钟内有效。", file=sys.stderr, flush=True)
