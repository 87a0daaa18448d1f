"""What every real platform adapter checks the same way, whatever the platform.

- `login_code`: the shape of a login code, before a platform is asked about it.
- `app_of`: which of an adapter's configured apps a login names.
- `IdentityTickets`: a face-check ticket is bound to the account and the person it was issued
  for, so one account cannot read out another's check, nor pass a check made for someone else.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TypeVar

from adapters.platforms.state import AccountState
from core.errors import InvalidInput, Message, Msg

App = TypeVar("App")


def login_code(code: str | None, max_length: int) -> str:
    """The code stripped; InvalidInput (422) if empty or longer than the platform ever sends."""
    code = (code or "").strip()
    if not code or len(code) > max_length or not code.isprintable():
        raise InvalidInput(Msg.INVALID_LOGIN_CODE,
                           {"code": [Message(Msg.LENGTH_BETWEEN, min=1, max=max_length)]})
    return code


def app_of(apps: Mapping[str, App], app_id: str | None) -> App:
    """The app `app_id` names, or the first configured one when it is None (PlatformAdapter.login)."""
    if app_id is None:
        return next(iter(apps.values()))
    app = apps.get(app_id)
    if app is None:
        raise InvalidInput(Msg.UNKNOWN_PLATFORM, {"app_id": [Message(Msg.PLATFORM_NOT_ENABLED, name=app_id)]})
    return app


def _person(name: str, id_number: str) -> str:
    # Inside a sealed AccountState value: a digest, so not even the ciphertext holds the ID number.
    return hashlib.sha256(f"{name}\x1f{id_number}".encode()).hexdigest()


class IdentityTickets:
    """The one face-check ticket in flight per account, sealed in AccountState with a lifetime.

    `bind` when the platform issued the ticket; `matches` before asking the platform about it;
    `release` once it passed, so a passed ticket cannot be played again.
    """

    FIELD = "identity-ticket"

    def __init__(self, state: AccountState, ttl: int) -> None:
        self._state = state
        self.ttl = ttl

    def bind(self, account_id: str, ticket: str, name: str, id_number: str) -> None:
        value = json.dumps({"ticket": ticket, "person": _person(name, id_number)})
        self._state.put(account_id, self.FIELD, value, ttl=self.ttl)

    def matches(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """Whether `ticket` is the account's ticket in flight, issued for this name and ID number."""
        sealed = self._state.get(account_id, self.FIELD)
        if sealed is None or not ticket:
            return False
        bound = json.loads(sealed)
        return hmac.compare_digest(bound["ticket"].encode(), ticket.encode()) \
            and hmac.compare_digest(bound["person"], _person(name, id_number))

    def release(self, account_id: str) -> None:
        self._state.forget(account_id, self.FIELD)
