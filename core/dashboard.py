"""What an epidemic office watches (the console's first page): counted as changes happen."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.appeals import AppealService
from core.clock import Clock
from core.marking import MarkingService
from core.ports import Counters


@dataclass(frozen=True)
class Waiting:
    """Items waiting for someone (open appeals, pending approvals): how many, and their ages."""

    count: int
    ages: tuple[int, ...]  # seconds, oldest first

    @property
    def oldest(self) -> int | None:
        return self.ages[0] if self.ages else None


class DashboardService:
    def __init__(self, counters: Counters, appeals: AppealService, marking: MarkingService, clock: Clock) -> None:
        self._counters = counters
        self._appeals = appeals
        self._marking = marking
        self._clock = clock

    def snapshot(self, days: int = 7) -> dict[str, Any]:
        now = self._clock.now()
        counts = self._counters.snapshot(now, days)
        appeals = self._appeals.open_appeals(500)
        pending = self._marking.pending(500)
        counts["open_appeals"] = Waiting(len(appeals), tuple(now - a.created_at for a in appeals))
        counts["pending_approvals"] = Waiting(len(pending), tuple(now - p.marker.created_at for p in pending))
        return counts
