"""Redis repositories of the authority console: its users and its server-side sessions.

  hc:{console}:users       users (hash username -> JSON with the argon2 hash, role, disabled)
  hc:con:s:<token-hash>    a session (JSON string with a TTL: gone by itself at its end)
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from adapters.store.encoding import text
from core.console import ConsoleUser
from core.model import Role

USERS = "hc:{console}:users"


def console_session_key(token_hash: str) -> str:
    return f"hc:con:s:{token_hash}"


def _user_json(user: ConsoleUser) -> str:
    doc = {"role": user.role.value, "hash": user.password_hash, "at": user.created_at, "disabled": user.disabled}
    return json.dumps(doc, separators=(",", ":"))


def _user(username: str, raw: bytes | str) -> ConsoleUser:
    doc = json.loads(raw)
    return ConsoleUser(username=username, role=Role(doc["role"]), password_hash=doc["hash"], created_at=doc["at"],
                       disabled=bool(doc["disabled"]))


class RedisConsoleUsers:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def add(self, user: ConsoleUser) -> bool:
        return bool(self._r.hsetnx(USERS, user.username, _user_json(user)))

    def get(self, username: str) -> ConsoleUser | None:
        raw = self._r.hget(USERS, username)
        return _user(username, raw) if isinstance(raw, bytes | str) else None

    def replace(self, user: ConsoleUser) -> None:
        self._r.hset(USERS, user.username, _user_json(user))

    def all(self) -> list[ConsoleUser]:
        raw: dict[bytes, bytes] = self._r.hgetall(USERS)  # type: ignore[assignment]
        return [_user(text(name), doc) for name, doc in raw.items()]


class RedisConsoleSessions:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save(self, token_hash: str, data: Mapping[str, Any], ttl: int) -> None:
        self._r.set(console_session_key(token_hash), json.dumps(dict(data), ensure_ascii=False), ex=ttl)

    def load(self, token_hash: str) -> dict[str, Any] | None:
        raw = self._r.get(console_session_key(token_hash))
        if not isinstance(raw, bytes | str):
            return None
        doc = json.loads(raw)
        return doc if isinstance(doc, dict) else None

    def delete(self, token_hash: str) -> None:
        self._r.delete(console_session_key(token_hash))
