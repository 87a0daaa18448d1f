"""The signed health code: its claims, the signing ports, issuing one and reading one back."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

from core.model import Color, ScanFailure


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
    """A presented code that cannot be accepted, and why."""

    def __init__(self, reason: ScanFailure | str, detail: str = "") -> None:
        reason = ScanFailure(reason)  # ValueError for a reason the contract does not know
        super().__init__(detail or reason.value)
        self.reason = reason
        self.detail = detail


class CodeSigner(Protocol):
    """Turns claims into the text a QR carries, signed with the active key."""

    def sign(self, claims: CodeClaims) -> str: ...

    def key_id(self) -> str:
        """The id of the key codes are signed with now (a code kept for reuse names it)."""
        ...


class CodeVerifier(Protocol):
    """Checks format, key and signature of a QR text; expiry and status are core's job."""

    def verify(self, qr: str) -> CodeClaims: ...


class CodeIdCipher(Protocol):
    """Pseudonymous code ids: reversible by the issuer only, unlinkable by scanners."""

    def seal(self, person_id: str, issued_at: int) -> bytes: ...

    def open(self, code_id: bytes) -> tuple[str, int]: ...


class IssuedCode(NamedTuple):  # made on every read that signs: a named tuple (see CachedAnswer)
    qr: str
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class ReadCode:
    """A presented code whose signature verified, and whose person it names."""

    claims: CodeClaims
    person_id: str


class CodeIssuer:
    """Issues this service's codes and reads them back: signer, verifier, code ids, issuer id
    and lifetime in one place."""

    def __init__(self, signer: CodeSigner, verifier: CodeVerifier, code_ids: CodeIdCipher,
                 issuer: str, ttl: int) -> None:
        self.signer = signer
        self.verifier = verifier
        self.code_ids = code_ids
        self.issuer = issuer
        self.ttl = ttl

    def issue(self, person_id: str, color: Color, now: int, name_masked: str) -> IssuedCode:
        """A code for the person's colour at `now`, valid for the lifetime."""
        expires_at = now + self.ttl
        claims = CodeClaims(
            issuer=self.issuer,
            code_id=self.code_ids.seal(person_id, now),
            color=color,
            issued_at=now,
            expires_at=expires_at,
            name_masked=name_masked,
        )
        return IssuedCode(self.signer.sign(claims), now, expires_at)

    def read(self, qr: str) -> ReadCode:
        """The claims of one of our codes and its person; InvalidCode when it is not one."""
        claims = self.verifier.verify(qr)
        person_id, issued_at = self.code_ids.open(claims.code_id)
        if issued_at != claims.issued_at or claims.issuer != self.issuer:
            raise InvalidCode(ScanFailure.MALFORMED, "code id does not match its claims")
        return ReadCode(claims, person_id)
