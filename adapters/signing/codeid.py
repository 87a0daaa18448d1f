"""Pseudonymous code ids: a different id on every code, mapped back by the issuer only (DESIGN §5)."""
from __future__ import annotations

import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core.codes import InvalidCode

_PERSON_ID = re.compile(r"[0-9a-f]{24}")


class AesCodeIdCipher:
    """CodeIdCipher: code id = AES-256(key, person id (12 bytes) || issued_at (4 bytes, big-endian)).

    Exactly one 16-byte block goes through AES, so "ECB" here is just the raw
    block cipher, a pseudorandom permutation: without the key, ids of the same
    person at different times look unrelated. ECB's known weakness (equal
    blocks of one long message showing through) needs several blocks; there
    is only ever one, and it differs whenever issued_at does. The id is not
    authenticated: callers open only ids taken from codes whose signature verified.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("code id key must be 32 bytes (AES-256)")
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())

    def seal(self, person_id: str, issued_at: int) -> bytes:
        """The 16-byte code id for person_id's code issued at issued_at (Unix seconds)."""
        if not _PERSON_ID.fullmatch(person_id):
            raise ValueError("person id must be 24 lowercase hex characters")
        if not 0 <= issued_at < 2**32:
            raise ValueError("issued_at must fit in 4 bytes")
        block = bytes.fromhex(person_id) + issued_at.to_bytes(4, "big")
        encryptor = self._cipher.encryptor()
        return encryptor.update(block) + encryptor.finalize()

    def open(self, code_id: bytes) -> tuple[str, int]:
        """(person id, issued_at) behind a code id; InvalidCode("malformed") if it is not 16 bytes."""
        if not isinstance(code_id, bytes) or len(code_id) != 16:
            raise InvalidCode("malformed", "code id must be 16 bytes")
        decryptor = self._cipher.decryptor()
        block = decryptor.update(code_id) + decryptor.finalize()
        return block[:12].hex(), int.from_bytes(block[12:], "big")
