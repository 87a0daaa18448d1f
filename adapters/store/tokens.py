"""Redis repositories of bearer tokens: sessions (with TTL) and staff credentials, by hash only."""
from __future__ import annotations

import json

import redis

from adapters.store.encoding import parse_session, session_value, text
from adapters.store.keys import session_key
from core.model import Credential, Role, Session

CREDENTIAL_INDEX = "hc:creds"


def credential_key(token_hash: str) -> str:
    return f"hc:cred:{token_hash}"


class RedisSessionStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save_session(self, token_hash: str, session: Session, ttl: int) -> None:
        self._r.set(session_key(token_hash), session_value(session), ex=ttl)

    def session(self, token_hash: str) -> Session | None:
        return parse_session(self._r.get(session_key(token_hash)))  # type: ignore[arg-type]

    def delete_session(self, token_hash: str) -> None:
        self._r.delete(session_key(token_hash))


class RedisCredentialStore:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save_credential(self, token_hash: str, credential: Credential) -> None:
        doc = {"id": credential.id, "role": credential.role, "name": credential.name, "at": credential.created_at}
        self._r.set(credential_key(token_hash), json.dumps(doc, ensure_ascii=False))
        self._r.hset(CREDENTIAL_INDEX, credential.id, token_hash)

    def credential(self, token_hash: str) -> Credential | None:
        raw = self._r.get(credential_key(token_hash))
        if raw is None:
            return None
        doc = json.loads(raw)
        return Credential(id=doc["id"], role=Role(doc["role"]), name=doc["name"], created_at=doc["at"])

    def credentials(self) -> list[Credential]:
        found = []
        for token_hash in self._r.hvals(CREDENTIAL_INDEX):
            credential = self.credential(text(token_hash))
            if credential is not None:
                found.append(credential)
        return sorted(found, key=lambda c: c.created_at)

    def revoke_credential(self, credential_id: str) -> bool:
        token_hash = self._r.hget(CREDENTIAL_INDEX, credential_id)
        if token_hash is None:
            return False
        self._r.delete(credential_key(text(token_hash)))
        self._r.hdel(CREDENTIAL_INDEX, credential_id)
        return True
