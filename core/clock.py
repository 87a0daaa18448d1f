"""The one clock port: rules take time from here, never from the wall."""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> int:
        """UTC epoch seconds."""
        ...


class SystemClock:
    """The wall clock, used by the composition root only."""

    def now(self) -> int:
        return int(time.time())


class FixedClock:
    """A clock tests move by hand."""

    def __init__(self, now: int) -> None:
        self._now = now

    def now(self) -> int:
        return self._now

    def advance(self, seconds: int) -> None:
        self._now += seconds
