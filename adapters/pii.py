"""Personal data at rest: keyed lookup hashes (HMAC-SHA256) and AES-256-GCM (DESIGN §3).

All keys derive from one server secret with HKDF, each with its own label, so one
secret in the environment gives independent keys for each purpose.
"""
from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose ("pii-encryption", "signing-key-wrap", …)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(secret)


class AesGcmVault:
    """PiiVault: HMAC for look-ups, AES-GCM with the record and field as associated data."""

    def __init__(self, secret: bytes) -> None:
        self._hash_key = derive_key(secret, "pii-lookup-hash")
        self._aead = AESGCM(derive_key(secret, "pii-encryption"))

    def lookup_hash(self, value: str) -> str:
        # 128 bits of HMAC: no collisions among a population, useless without the key.
        return hmac.new(self._hash_key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, value: str, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, value.encode(), context.encode())

    def open(self, blob: bytes, context: str) -> str:
        # Binding the context means a ciphertext moved to another person or field fails.
        return self._aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode()).decode()


class HmacAccountIds:
    """AccountIds: HMAC-SHA256 of (platform, app id, user id) under a key derived from the secret,
    96 bits as hex: a platform user id never reaches a key or a log, and without the secret
    nobody can tell whose account an id is."""

    def __init__(self, secret: bytes) -> None:
        self._key = derive_key(secret, "account-id")

    def account_id(self, platform: str, app_id: str, user_id: str) -> str:
        raw = f"{platform}\x1f{app_id}\x1f{user_id}".encode()
        return hmac.new(self._key, raw, hashlib.sha256).hexdigest()[:24]
