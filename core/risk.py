"""Risk areas (中高风险地区), set by authorities on counties or cities (GB/T 2260), audited; and
the policy in force, published as an audited action."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

from core.audit import Action, AuditTrail
from core.clock import Clock
from core.divisions import Level, division, within
from core.errors import InvalidInput, Msg
from core.model import Credential, RiskArea
from core.policy import Policy
from core.ports import PolicyStore, RiskAreas


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


ELEVATED = frozenset({RiskLevel.MEDIUM, RiskLevel.HIGH})


class RiskTable:
    """The risk-area table as this process holds it, reloaded when its version moves (checked at
    most once per `refresh_seconds`), and the levels it gives each city."""

    def __init__(self, areas: RiskAreas, refresh_seconds: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._areas = areas
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._version = -1
        self._levels: dict[str, str] = {}
        self._next_check = float("-inf")

    def level_of_city(self, city: str) -> str | None:
        """The highest level a medium- or high-risk area of this city (or the city itself) has now."""
        self._fresh()
        return self._levels.get(city)

    def _fresh(self) -> None:
        now = self._monotonic()
        if now >= self._next_check:
            version = self._areas.version()
            if version != self._version:
                self._levels = _city_levels(self._areas.current())
                self._version = version
            self._next_check = now + self._refresh

    def invalidate(self) -> None:
        """This process changed the table: the next read reloads it."""
        self._next_check = float("-inf")

    @property
    def version(self) -> int:
        """The version of the table this process holds (as fresh as level_of_city's)."""
        self._fresh()
        return self._version

    def observe(self, version: int) -> bool:
        """A read saw the table at `version`: reload now if this process holds another. True if
        it was behind."""
        if version == self._version:
            return False
        self._version = self._areas.version()  # before the table: a change between them reloads again
        self._levels = _city_levels(self._areas.current())
        self._next_check = self._monotonic() + self._refresh
        return True


def _city_levels(areas: Mapping[str, RiskArea]) -> dict[str, str]:
    levels: dict[str, str] = {}
    for code, area in areas.items():
        if area.level not in ELEVATED:
            continue
        found = division(code)
        city = found.city if found is not None else code
        if levels.get(city) != RiskLevel.HIGH:
            levels[city] = area.level
    return levels


class RiskAreaService:
    def __init__(self, areas: RiskAreas, audit: AuditTrail, clock: Clock, table: RiskTable | None = None) -> None:
        self._areas = areas
        self._audit = audit
        self._clock = clock
        self.table = table or RiskTable(areas)

    def set(self, code: str, level: str, note: str, actor: Credential) -> RiskArea:
        """One write (and one audit entry) per change, whatever the number of persons."""
        found = division(code)
        if found is None or found.level is Level.PROVINCE:
            raise InvalidInput(Msg.NO_SUCH_REGION, {"code": [Msg.NO_SUCH_REGION]})
        try:
            level = RiskLevel(level)
        except ValueError:
            raise InvalidInput(Msg.RISK_LEVEL, {"level": [Msg.RISK_LEVEL]}) from None
        area = RiskArea(code, level.value, note, self._clock.now(), actor.id)
        previous = self._areas.set(area)
        self.table.invalidate()
        self._audit.record(actor, Action("risk_area.set", code, note or level.value,
                                         previous.level if previous else RiskLevel.LOW.value, level.value))
        return area

    def current(self) -> dict[str, RiskArea]:
        return self._areas.current()

    def history(self, limit: int = 200) -> list[RiskArea]:
        return self._areas.history(limit)

    def elevated_in(self, city_code: str, areas: Mapping[str, RiskArea] | None = None) -> bool:
        """Whether the city (or a county of it) holds a medium- or high-risk area now: the
        travel card's star, read at the time of the read."""
        areas = self._areas.current() if areas is None else areas
        return any(area.level in ELEVATED and within(code, city_code) for code, area in areas.items())


class PolicyService:
    def __init__(self, policies: PolicyStore, audit: AuditTrail) -> None:
        self._policies = policies
        self._audit = audit

    def current(self) -> Policy:
        return self._policies.current()

    def publish(self, doc: Mapping[str, Any], actor: Credential | str, reason: str) -> Policy:
        before = self._policies.current().version
        policy = self._policies.publish(doc)
        self._audit.record(actor, Action("policy.publish", policy.version, reason, before, policy.version),
                           role="operator" if isinstance(actor, str) else None)
        return policy
