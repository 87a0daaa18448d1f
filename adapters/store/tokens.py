"""Redis repository of bearer tokens: sessions (with TTL) and staff credentials, by hash only."""
from __future__ import annotations

import json

import redis

from core.ports import Credential, Session

CREDENTIAL_INDEX = "hc:creds"


def session_key(token_hash: str) -> str:
    return f"hc:s:{token_hash}"


def parse_session(raw: bytes | None) -> Session | None:
    if raw is None:
        return None
    account_id, platform = raw.decode().split("|")
    return Session(account_id=account_id, platform=platform)


class RedisTokenStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save_session(self, token_hash: str, session: Session, ttl: int) -> None:
        self._r.set(session_key(token_hash), f"{session.account_id}|{session.platform}", ex=ttl)

    def session(self, token_hash: str) -> Session | None:
        return parse_session(self._r.get(session_key(token_hash)))

    def delete_session(self, token_hash: str) -> None:
        self._r.delete(session_key(token_hash))

    def save_credential(self, token_hash: str, credential: Credential) -> None:
        doc = {"id": credential.id, "role": credential.role, "name": credential.name, "at": credential.created_at}
        self._r.set(f"hc:cred:{token_hash}", json.dumps(doc, ensure_ascii=False))
        self._r.hset(CREDENTIAL_INDEX, credential.id, token_hash)

    def credential(self, token_hash: str) -> Credential | None:
        raw = self._r.get(f"hc:cred:{token_hash}")
        if raw is None:
            return None
        doc = json.loads(raw)
        return Credential(id=doc["id"], role=doc["role"], name=doc["name"], created_at=doc["at"])

    def credentials(self) -> list[Credential]:
        found = []
        for token_hash in self._r.hvals(CREDENTIAL_INDEX):
            credential = self.credential(token_hash.decode())
            if credential is not None:
                found.append(credential)
        return sorted(found, key=lambda c: c.created_at)

    def revoke_credential(self, credential_id: str) -> bool:
        token_hash = self._r.hget(CREDENTIAL_INDEX, credential_id)
        if token_hash is None:
            return False
        self._r.delete(f"hc:cred:{token_hash.decode()}")
        self._r.hdel(CREDENTIAL_INDEX, credential_id)
        return True
