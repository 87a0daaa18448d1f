"""The signed health code: its claims, the signing ports, and why a scan fails."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Color(StrEnum):
    """Health-code colours, in rising severity (DESIGN §1)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Color.GREEN: 0, Color.YELLOW: 1, Color.RED: 2}

# Reasons a scan can reject a code (API.md, POST /api/v1/scans).
SCAN_FAILURES = ("malformed", "bad_signature", "unknown_key", "expired", "revoked")


@dataclass(frozen=True)
class CodeClaims:
    """What a shown code asserts. Never carries the ID number (DESIGN §5)."""

    issuer: str
    code_id: bytes
    color: Color
    issued_at: int
    expires_at: int
    name_masked: str
    kid: str | None = None


class InvalidCode(Exception):
    """A presented code that cannot be accepted, with one of SCAN_FAILURES."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in SCAN_FAILURES, reason
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


class CodeSigner(Protocol):
    """Turns claims into the text a QR carries, signed with the active key."""

    def sign(self, claims: CodeClaims) -> str: ...


class CodeVerifier(Protocol):
    """Checks format, key and signature of a QR text; expiry and status are core's job."""

    def verify(self, qr: str) -> CodeClaims: ...


class CodeIdCipher(Protocol):
    """Pseudonymous code ids: reversible by the issuer only, unlinkable by scanners."""

    def seal(self, person_id: str, issued_at: int) -> bytes: ...

    def open(self, code_id: bytes) -> tuple[str, int]: ...
