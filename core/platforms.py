"""What the superapps tell the core, in one set of types whatever the platform (DESIGN §2)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class AccountIds(Protocol):
    """Keyed pseudonyms of platform accounts: the same account always maps to the same id, and
    nobody without the server secret can tell which platform user an id belongs to."""

    def account_id(self, platform: str, app_id: str, user_id: str) -> str: ...


@dataclass(frozen=True)
class PlatformIdentity:
    """Who a platform says the user is: one account, whatever the platform.

    `account_id` is the keyed pseudonym (AccountIds) the store and the logs know the account
    by; the platform's own user id stays inside the adapter.
    """

    platform: str
    app_id: str
    user_id: str
    account_id: str
    union_id: str | None = None

    @classmethod
    def of(cls, ids: AccountIds, platform: str, app_id: str, user_id: str,
           union_id: str | None = None) -> PlatformIdentity:
        return cls(platform, app_id, user_id, ids.account_id(platform, app_id, user_id), union_id)


@dataclass(frozen=True)
class IdentityCheck:
    """A face check the platform has prepared for this person: the mini-program hands `ticket`
    to the platform's face-check UI (WeChat's verify_id, Alipay's certify_id) or opens `url`,
    then the API is called with the same ticket to read the result."""

    ticket: str
    expires_in: int
    url: str | None = None


@dataclass(frozen=True)
class AccountRevoked:
    """The user withdrew this account's authorization on the platform (or cancelled it)."""

    account_id: str


@dataclass(frozen=True)
class WebhookRequest:
    """A platform's callback as it arrived: nothing in it is trusted until the adapter checked it."""

    method: str
    args: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class WebhookReply:
    """What to answer the platform, and the events its verified callback carried."""

    body: str
    content_type: str = "text/plain"
    status: int = 200
    events: tuple[AccountRevoked, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ColorNotice:
    """A colour change to tell a linked account about (masked name only, no reasons in clear)."""

    person_id: str
    name_masked: str
    color: str
    at: int
    reason: str
