"""In-memory fakes of the authorities' ports (appeals, risk areas, the audit log, the console's
users, sessions and password hashes), as the Redis adapters in adapters/store/authority.py and
adapters/store/console.py behave (tests/integration/test_authority_stores.py)."""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from core.audit import GENESIS
from core.clock import Clock
from core.console import ConsoleUser
from core.model import Appeal, AppealStatus, AuditEntry, RiskArea


class FakeAppeals:
    def __init__(self) -> None:
        self.appeals: dict[str, Appeal] = {}

    def add(self, appeal: Appeal) -> None:
        self.appeals[appeal.id] = appeal

    def get(self, person_id: str, appeal_id: str) -> Appeal | None:
        appeal = self.appeals.get(appeal_id)
        return appeal if appeal is not None and appeal.person_id == person_id else None

    def for_person(self, person_id: str) -> list[Appeal]:
        return sorted((a for a in self.appeals.values() if a.person_id == person_id),
                      key=lambda a: a.created_at, reverse=True)

    def open_appeals(self, limit: int) -> list[Appeal]:
        found = sorted((a for a in self.appeals.values() if a.status == AppealStatus.OPEN), key=lambda a: a.created_at)
        return found[:limit]

    def decide(self, appeal: Appeal) -> bool:
        current = self.appeals.get(appeal.id)
        if current is None or current.status != AppealStatus.OPEN:
            return False
        self.appeals[appeal.id] = appeal
        return True


class FakeRiskAreas:
    def __init__(self) -> None:
        self.areas: dict[str, RiskArea] = {}
        self.log: list[RiskArea] = []

    def set(self, area: RiskArea) -> RiskArea | None:
        previous = self.areas.get(area.code)
        self.areas[area.code] = area
        self.log.insert(0, area)
        return previous

    def current(self) -> dict[str, RiskArea]:
        return dict(self.areas)

    def version(self) -> int:
        return len(self.log)

    def history(self, limit: int) -> list[RiskArea]:
        return self.log[:limit]


class FakeAuditLog:
    def __init__(self) -> None:
        self.log: list[AuditEntry] = []

    def head(self) -> tuple[int, str]:
        return (self.log[-1].seq, self.log[-1].hash) if self.log else (0, GENESIS)

    def append(self, expected_head: tuple[int, str], entries: list[AuditEntry]) -> bool:
        if self.head() != expected_head:
            return False
        self.log.extend(entries)
        return True

    def entries(self, since_seq: int, limit: int) -> list[AuditEntry]:
        return self.log[since_seq:since_seq + limit]

    def all_entries(self) -> Iterator[AuditEntry]:
        return iter(list(self.log))

    def tamper(self, index: int, **changes: object) -> None:
        """Edit a stored entry behind the trail's back (what verify must catch)."""
        self.log[index] = replace(self.log[index], **changes)  # type: ignore[arg-type]


class FakeFeeds:
    def __init__(self) -> None:
        self.feeds: dict[str, object] = {}

    def save(self, feed) -> None:
        self.feeds[feed.name] = feed

    def get(self, name: str):
        return self.feeds.get(name)

    def all(self) -> list:
        return sorted(self.feeds.values(), key=lambda f: f.name)


class FakeSeenOnce:
    def __init__(self) -> None:
        self.seen: set[tuple[str, str]] = set()

    def first_time(self, scope: str, token: str, ttl: int) -> bool:
        if (scope, token) in self.seen:
            return False
        self.seen.add((scope, token))
        return True


class FakeSmsCodes:
    def __init__(self, clock) -> None:
        self._clock = clock
        self.codes: dict[str, tuple[str, int, int]] = {}  # phone hash -> (code hash, tries, expires)

    def put(self, phone_hash: str, code_hash: str, ttl: int) -> None:
        self.codes[phone_hash] = (code_hash, 0, self._clock.now() + ttl)

    def attempt(self, phone_hash: str, code_hash: str, max_attempts: int):
        from core.travel import CodeCheck

        found = self.codes.get(phone_hash)
        if found is None or self._clock.now() >= found[2]:
            self.codes.pop(phone_hash, None)
            return CodeCheck.NONE
        tries = found[1] + 1
        if found[0] == code_hash and tries <= max_attempts:
            del self.codes[phone_hash]
            return CodeCheck.OK
        if tries >= max_attempts:
            del self.codes[phone_hash]
            return CodeCheck.EXHAUSTED
        self.codes[phone_hash] = (found[0], tries, found[2])
        return CodeCheck.WRONG

    def delete(self, phone_hash: str) -> None:
        self.codes.pop(phone_hash, None)


class FakeTravelTokens:
    def __init__(self, clock) -> None:
        self._clock = clock
        self.tokens: dict[str, tuple[str, bytes, int]] = {}

    def save(self, token_hash: str, phone_hash: str, phone_ct: bytes, ttl: int) -> None:
        self.tokens[token_hash] = (phone_hash, phone_ct, self._clock.now() + ttl)

    def get(self, token_hash: str):
        found = self.tokens.get(token_hash)
        if found is None or self._clock.now() >= found[2]:
            return None
        return found[0], found[1]


class FakeStays:
    def __init__(self, persons=None, tokens=None) -> None:
        self.stays_by_phone: dict[str, set] = {}
        self._persons = persons  # a FakePersonStore: its phone index and visits
        self.tokens = tokens  # a FakeTravelTokens, for token_and_stays

    def token_and_stays(self, token_hash: str, phone_hash: str):
        return self.tokens.get(token_hash), self.stays(phone_hash)

    def add(self, stays, visits, window: int, now: int) -> None:
        for phone_hash, stay in stays:
            kept = {s for s in self.stays_by_phone.get(phone_hash, set()) if s.end >= now - window}
            self.stays_by_phone[phone_hash] = kept | {stay}
        if self._persons is not None:
            for phone_hash, cities in visits.items():
                for person_id in self._persons.phones.get(phone_hash, set()):
                    self._persons.add_visits(person_id, cities)

    def stays(self, phone_hash: str) -> list:
        return sorted(self.stays_by_phone.get(phone_hash, set()), key=lambda s: (s.end, s.place, s.start))

    def delete_all(self) -> dict[str, int]:
        count, self.stays_by_phone = len(self.stays_by_phone), {}
        if self._persons is not None:
            self._persons.visits.clear()
        return {"stays": count}


class FakeConsoleUsers:
    def __init__(self) -> None:
        self.users: dict[str, ConsoleUser] = {}

    def add(self, user: ConsoleUser) -> bool:
        if user.username in self.users:
            return False
        self.users[user.username] = user
        return True

    def get(self, username: str) -> ConsoleUser | None:
        return self.users.get(username)

    def replace(self, user: ConsoleUser) -> None:
        self.users[user.username] = user

    def all(self) -> list[ConsoleUser]:
        return list(self.users.values())


class FakeConsoleSessions:
    """Sessions over a dict, gone at their TTL on the given clock (as Redis keys are)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.sessions: dict[str, tuple[dict[str, Any], int]] = {}

    def save(self, token_hash: str, data: Mapping[str, Any], ttl: int) -> None:
        self.sessions[token_hash] = (copy.deepcopy(dict(data)), self._clock.now() + ttl)

    def load(self, token_hash: str) -> dict[str, Any] | None:
        found = self.sessions.get(token_hash)
        if found is None or found[1] <= self._clock.now():
            self.sessions.pop(token_hash, None)
            return None
        return copy.deepcopy(found[0])

    def delete(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)


class FakePasswords:
    """A fast stand-in for argon2: "v<cost>$<sha256>", counting verifications (the work a login
    costs); `cost` plays the hasher's parameters."""

    def __init__(self, cost: int = 1) -> None:
        self.cost = cost
        self.verifications = 0

    def hash(self, password: str) -> str:
        return f"v{self.cost}${hashlib.sha256(password.encode()).hexdigest()}"

    def verify(self, hashed: str, password: str) -> bool:
        self.verifications += 1
        return hashed.partition("$")[2] == hashlib.sha256(password.encode()).hexdigest()

    def needs_rehash(self, hashed: str) -> bool:
        return not hashed.startswith(f"v{self.cost}$")
