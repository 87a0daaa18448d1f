"""The authority console's users and their sessions.

A console user is staff who logs in with a password (argon2, behind the PasswordHashing port)
and then acts as a staff Credential of its own (`console:<username>`, its role): the audit
trail names it, and the two-person rule compares it with the proposer like any credential.
Sessions are kept server-side by the hash of an opaque token, so a logout or a disabled user
ends them at once, and each lasts a fixed time from the login (not extended by use).
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from core.accounts import token_hash
from core.audit import Action, AuditTrail
from core.clock import Clock
from core.errors import Conflict, InvalidInput, Message, Msg, Unauthorized
from core.model import Credential, Role
from core.ports import ConsoleSessions, ConsoleUsers, PasswordHashing

CONSOLE_ROLES = (Role.AUTHORITY, Role.APPROVER, Role.AUDITOR)  # checkpoints scan; they have no console
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,31}")
MIN_PASSWORD, MAX_PASSWORD = 12, 256  # NIST SP 800-63B: at least 8, allow long passphrases
OPERATOR = "operator"  # who runs the CLI on the server (as for feeds and the policy)
SIGN_IN_FORM_TTL = 1800  # the session behind a login form (its CSRF secret) before anyone logs in


@dataclass(frozen=True)
class ConsoleUser:
    username: str
    role: Role
    password_hash: str
    created_at: int
    disabled: bool = False

    @property
    def credential(self) -> Credential:
        """Who the user is towards the core: the actor of its audit entries and markers."""
        return Credential(id=f"console:{self.username}", role=self.role, name=self.username,
                          created_at=self.created_at)


def normalize_username(raw: str) -> str:
    return raw.strip().lower()


class ConsoleUserService:
    def __init__(self, users: ConsoleUsers, sessions: ConsoleSessions, passwords: PasswordHashing, clock: Clock,
                 audit: AuditTrail, session_ttl: int) -> None:
        self._users = users
        self._audit = audit
        self._sessions = sessions
        self._passwords = passwords
        self._clock = clock
        self.session_ttl = session_ttl
        self._dummy_hash: str | None = None

    # -- users (the operator's CLI) --------------------------------------------------------

    def create(self, username: str, role: Role | str, password: str) -> ConsoleUser:
        name = normalize_username(username)
        if not USERNAME.fullmatch(name):
            raise InvalidInput(Msg.INVALID_USERNAME, {"username": [Msg.USERNAME_CHARS]})
        if role not in CONSOLE_ROLES:
            choices = ", ".join(CONSOLE_ROLES)
            raise InvalidInput(Msg.UNKNOWN_ROLE, {"role": [Message(Msg.ONE_OF, choices=choices)]})
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise InvalidInput(Msg.PASSWORD_LENGTH, {"password": [
                Message(Msg.LENGTH_BETWEEN, min=MIN_PASSWORD, max=MAX_PASSWORD)]})
        user = ConsoleUser(name, Role(role), self._passwords.hash(password), self._clock.now())
        if not self._users.add(user):
            # Also a disabled user's: an audit entry's actor must name one person, ever.
            raise Conflict(Msg.USERNAME_TAKEN)
        self._audit.record(OPERATOR, Action("console_user.create", user.credential.id, user.role.value),
                           role=OPERATOR)
        return user

    def users(self) -> list[ConsoleUser]:
        return sorted(self._users.all(), key=lambda u: u.created_at)

    def disable(self, username: str) -> bool:
        """Stop the user logging in; its open sessions end at their next request."""
        user = self._users.get(normalize_username(username))
        if user is None:
            return False
        self._users.replace(replace(user, disabled=True))
        self._audit.record(OPERATOR, Action("console_user.disable", user.credential.id), role=OPERATOR)
        return True

    # -- logins ----------------------------------------------------------------------------

    def login(self, username: str, password: str) -> ConsoleUser:
        """The user whose password this is. An unknown or disabled user costs the same hash
        verification as a wrong password and answers the same, so neither is told apart."""
        name = normalize_username(username)
        user = self._users.get(name) if USERNAME.fullmatch(name) else None
        hashed = user.password_hash if user is not None else self._dummy()
        matches = self._passwords.verify(hashed, password[:MAX_PASSWORD]) and len(password) <= MAX_PASSWORD
        if user is None or user.disabled or not matches:
            raise Unauthorized(Msg.CONSOLE_LOGIN_FAILED)
        if self._passwords.needs_rehash(user.password_hash):
            # The hasher's parameters were raised since this hash was made: only now, with the
            # password in hand, can it be hashed again with them.
            user = replace(user, password_hash=self._passwords.hash(password))
            self._users.replace(user)
        return user

    def acting(self, username: str) -> Credential | None:
        """The credential a session's user acts with now; None once the user is disabled."""
        user = self._users.get(username)
        return None if user is None or user.disabled else user.credential

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._passwords.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # -- sessions --------------------------------------------------------------------------

    def keep_session(self, token: str, data: Mapping[str, Any]) -> int:
        """Store a session's data until its end (set on its first save: the console lifetime
        once a user logged in, a short one for a login form); the end, as epoch seconds."""
        now = self._clock.now()
        ends = int(data.get("exp") or now + (self.session_ttl if data.get("user") else SIGN_IN_FORM_TTL))
        if ends <= now:
            self._sessions.delete(token_hash(token))
            return ends
        self._sessions.save(token_hash(token), {**data, "exp": ends}, ends - now)
        return ends

    def session(self, token: str) -> dict[str, Any] | None:
        data = self._sessions.load(token_hash(token))
        if data is None or int(data.get("exp", 0)) <= self._clock.now():
            return None
        return data

    def end_session(self, token: str) -> None:
        self._sessions.delete(token_hash(token))
