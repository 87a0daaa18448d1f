"""The feeds that may push signed batches (labs, operators), their secrets sealed with AES-GCM.

  hc:feeds   hash feed name -> JSON {kind, secret (sealed, base64), at}
"""
from __future__ import annotations

import base64
import json
import os

import redis
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.store.encoding import text
from core.feeds import Feed, FeedKind

FEEDS = "hc:feeds"


class RedisFeedStore:
    def __init__(self, client: redis.Redis, key: bytes) -> None:
        self._r = client
        self._aead = AESGCM(key)

    def save(self, feed: Feed) -> None:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, feed.secret.encode(), feed.name.encode())
        doc = {"kind": feed.kind.value, "secret": base64.b64encode(sealed).decode(), "at": feed.created_at}
        self._r.hset(FEEDS, feed.name, json.dumps(doc))

    def get(self, name: str) -> Feed | None:
        raw = self._r.hget(FEEDS, name)
        return self._feed(name, raw) if isinstance(raw, bytes | str) else None

    def all(self) -> list[Feed]:
        raw: dict[bytes, bytes] = self._r.hgetall(FEEDS)  # type: ignore[assignment]
        return sorted((self._feed(text(name), value) for name, value in raw.items()), key=lambda f: f.name)

    def _feed(self, name: str, raw: bytes | str) -> Feed:
        doc = json.loads(raw)
        sealed = base64.b64decode(doc["secret"])
        secret = self._aead.decrypt(sealed[:12], sealed[12:], name.encode()).decode()
        return Feed(name, FeedKind(doc["kind"]), secret, doc["at"])
