"""Logins and staff credentials: opaque bearer tokens, stored only as hashes."""
from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from core.clock import Clock
from core.errors import Forbidden, InvalidInput, Message, Msg, Unauthorized
from core.model import Credential, Role, Session
from core.platforms import PlatformIdentity
from core.ports import CredentialStore, PlatformAdapter, SessionStore


def account_hint(token: str | None) -> str:
    """The account a session token claims; trusted only once the stored session agrees."""
    hint, dot, _ = (token or "").partition(".")
    if not dot or not hint:
        raise Unauthorized(Msg.LOGIN_REQUIRED)
    return hint


def check_session(token_account: str, session: Session | None) -> Session:
    if session is None or session.account_id != token_account:
        raise Unauthorized(Msg.LOGIN_REQUIRED)
    return session


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is enough to keep them out of the store.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginResult:
    token: str
    expires_in: int
    identity: PlatformIdentity
    session: Session


class SessionService:
    """Mini-program login through a platform adapter, and who a bearer token belongs to."""

    def __init__(self, platforms: Mapping[str, PlatformAdapter], tokens: SessionStore, ttl: int) -> None:
        self._platforms = platforms
        self._tokens = tokens
        self._ttl = ttl

    def enabled(self, platform: str) -> bool:
        """Whether logins through this platform are on."""
        return platform in self._platforms

    def platform(self, name: str) -> PlatformAdapter:
        adapter = self._platforms.get(name)
        if adapter is None:
            raise InvalidInput(Msg.UNKNOWN_PLATFORM, {"platform": [Message(Msg.PLATFORM_NOT_ENABLED, name=name)]})
        return adapter

    def login(self, platform: str, code: str, app_id: str | None = None) -> LoginResult:
        identity = self.platform(platform).login(code, app_id)
        # "<account id>.<256 random bits>": still opaque and stored only as a hash, but a read
        # can fetch the session and the account's data in one round trip (see account_hint).
        token = f"{identity.account_id}.{secrets.token_urlsafe(32)}"
        session = Session(account_id=identity.account_id, platform=identity.platform)
        self._tokens.save_session(token_hash(token), session, self._ttl)
        return LoginResult(token=token, expires_in=self._ttl, identity=identity, session=session)

    def authenticate(self, token: str | None) -> Session:
        hint = account_hint(token)
        return check_session(hint, self._tokens.session(token_hash(token or "")))

    def logout(self, token: str) -> None:
        self._tokens.delete_session(token_hash(token))


class CredentialService:
    """Staff credentials for the authority and checkpoint roles."""

    def __init__(self, tokens: CredentialStore, clock: Clock, cache_seconds: float = 5.0) -> None:
        self._tokens = tokens
        self._clock = clock
        # Staff credentials are checked on every scan; a short per-process cache saves a round
        # trip, at the price that a revocation takes up to `cache_seconds` to reach every worker.
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[Credential, float]] = {}

    def create(self, role: Role | str, name: str) -> tuple[str, Credential]:
        try:
            role = Role(role)
        except ValueError:
            choices = ", ".join(Role)
            raise InvalidInput(Msg.UNKNOWN_ROLE, {"role": [Message(Msg.ONE_OF, choices=choices)]}) from None
        if not name.strip() or len(name) > 64:
            raise InvalidInput(Msg.INVALID_NAME, {"name": [Msg.LENGTH_1_64]})
        token = f"hc{role.value[0]}_" + secrets.token_urlsafe(32)
        credential = Credential(
            id=secrets.token_hex(6), role=role, name=name.strip(), created_at=self._clock.now()
        )
        self._tokens.save_credential(token_hash(token), credential)
        return token, credential

    def authenticate(self, token: str | None, role: Role | tuple[Role, ...]) -> Credential:
        """The staff credential of a token, if it has the role (or one of the roles)."""
        roles = role if isinstance(role, tuple) else (role,)
        credential = self._cached(token_hash(token)) if token else None
        if credential is None:
            raise Unauthorized(Msg.CREDENTIAL_REQUIRED)
        if credential.role not in roles:
            raise Forbidden(Message(Msg.ROLE_REQUIRED, role=" / ".join(roles)))
        return credential

    def _cached(self, digest: str) -> Credential | None:
        now = self._clock.now()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        credential = self._tokens.credential(digest)
        if credential is None or self._cache_seconds <= 0:
            self._cache.pop(digest, None)
            return credential
        if len(self._cache) >= 1024:
            self._cache.clear()
        self._cache[digest] = (credential, now + self._cache_seconds)
        return credential

    def list(self) -> list[Credential]:
        return self._tokens.credentials()

    def revoke(self, credential_id: str) -> bool:
        self._cache.clear()
        return self._tokens.revoke_credential(credential_id)
