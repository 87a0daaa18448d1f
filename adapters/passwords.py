"""Console passwords: argon2id through argon2-cffi (RFC 9106), salted, with its parameters in
each hash, so raising them later rehashes each user's password at their next login."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Passwords:
    """PasswordHashing on argon2-cffi; the default parameters are the library's (RFC 9106's
    low-memory profile: 64 MiB, 3 passes, 4 lanes)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):  # a mismatch, or a hash that is not argon2's
            return False

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(hashed)
        except InvalidHashError:
            return True
