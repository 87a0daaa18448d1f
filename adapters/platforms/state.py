"""What platform adapters keep server-side between calls, shared by every adapter.

`AccountState`: small per-account values (WeChat's openid and session_key, Alipay's user id),
sealed with AES-GCM (the account and field as associated data) under a key of their own, each
with its own lifetime, so nothing a platform gave us sits in Redis in clear or longer than it
is needed. `ReplayGuard`: a callback or feed signature is accepted once.

Keys: hc:pf:{<account>}:<field> (string with TTL), hc:seen:<scope>:<sha256> (string with TTL).
"""
from __future__ import annotations

import hashlib
import os

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE = 12


class AccountState:
    def __init__(self, client: redis.Redis, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("account state key must be 32 bytes (AES-256)")
        self._r = client
        self._aead = AESGCM(key)

    @staticmethod
    def _key(account_id: str, field: str) -> str:
        return f"hc:pf:{{{account_id}}}:{field}"

    def put(self, account_id: str, field: str, value: str, ttl: int | None = None) -> None:
        """Keep `value` for the account, for `ttl` seconds (None: until forgotten)."""
        nonce = os.urandom(NONCE)
        sealed = nonce + self._aead.encrypt(nonce, value.encode(), f"{account_id}:{field}".encode())
        self._r.set(self._key(account_id, field), sealed, ex=ttl)

    def get(self, account_id: str, field: str) -> str | None:
        blob = self._r.get(self._key(account_id, field))
        if not isinstance(blob, bytes):
            return None
        try:
            return self._aead.decrypt(blob[:NONCE], blob[NONCE:], f"{account_id}:{field}".encode()).decode()
        except InvalidTag:
            return None  # another secret, or moved to another account: as good as absent

    def forget(self, account_id: str, *fields: str) -> None:
        if fields:
            self._r.delete(*(self._key(account_id, field) for field in fields))


class ReplayGuard:
    """Each (scope, token) passes once within `ttl` seconds (SET NX EX)."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def first_time(self, scope: str, token: str, ttl: int) -> bool:
        digest = hashlib.sha256(token.encode()).hexdigest()
        return bool(self._r.set(f"hc:seen:{scope}:{digest}", b"1", nx=True, ex=ttl))
