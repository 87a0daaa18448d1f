"""Counters for the authorities' dashboard, kept as the changes happen (no scan over persons).

  hc:{stats}:colors           persons by current colour (hash colour -> count)
  hc:{stats}:reasons:<day>    new yellow/red reasons that day (hash reason code -> count), 40 days
  hc:{stats}:scans:<hour>     scans in that hour (string), 8 days
Days and hours are Asia/Shanghai, as the office reads them.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from typing import Any

import redis

from adapters.store.encoding import text

CN = dt.timezone(dt.timedelta(hours=8))
COLORS = "hc:{stats}:colors"


def _day(at: int) -> str:
    return dt.datetime.fromtimestamp(at, CN).strftime("%Y-%m-%d")


def _hour(at: int) -> str:
    return _hour_of(at // 3_600)  # Asia/Shanghai is a whole number of hours off UTC: same hours


@functools.lru_cache(maxsize=256)
def _hour_of(hours: int) -> str:
    """The hour `hours` since the epoch, as its counter is named (every scan counts into one:
    formatted once an hour, not once a scan)."""
    return dt.datetime.fromtimestamp(hours * 3_600, CN).strftime("%Y-%m-%dT%H")


class RedisCounters:
    """Counters on Redis. Scans, the hottest count, are summed in the process and added at most
    once a second (no round trip of their own on the scan path); a crash loses that second's
    count, which a dashboard can afford."""

    def __init__(self, client: redis.Redis, flush_seconds: float = 1.0) -> None:
        self._r = client
        self._flush_seconds = flush_seconds
        self._scans: dict[str, int] = {}
        self._flushed = time.monotonic()
        self._lock = threading.Lock()

    def count_change(self, from_color: str | None, to_color: str, reasons: tuple[str, ...], at: int) -> None:
        pipe = self._r.pipeline(transaction=False)
        if from_color:
            pipe.hincrby(COLORS, from_color, -1)
        pipe.hincrby(COLORS, to_color, 1)
        key = f"hc:{{stats}}:reasons:{_day(at)}"
        for reason in reasons:
            pipe.hincrby(key, reason, 1)
        if reasons:
            pipe.expire(key, 40 * 86_400)
        pipe.execute()

    def count_scan(self, at: int) -> None:
        key = f"hc:{{stats}}:scans:{_hour(at)}"
        with self._lock:
            self._scans[key] = self._scans.get(key, 0) + 1
            due = time.monotonic() - self._flushed >= self._flush_seconds
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            counts, self._scans, self._flushed = self._scans, {}, time.monotonic()
        if not counts:
            return
        pipe = self._r.pipeline(transaction=False)
        for key, count in counts.items():
            pipe.incrby(key, count)
            pipe.expire(key, 8 * 86_400)
        pipe.execute()

    def snapshot(self, now: int, days: int) -> dict[str, Any]:
        self.flush()
        day_list = [_day(now - n * 86_400) for n in reversed(range(days))]
        hours = [_hour(now - n * 3_600) for n in reversed(range(days * 24))]
        pipe = self._r.pipeline(transaction=False)
        pipe.hgetall(COLORS)
        for day in day_list:
            pipe.hgetall(f"hc:{{stats}}:reasons:{day}")
        # MGET as a plain command: redis-py's cluster pipeline refuses its mget() (keys could
        # span slots); these share the {stats} tag.
        pipe.execute_command("MGET", *(f"hc:{{stats}}:scans:{hour}" for hour in hours))
        colors, *reasons, scans = pipe.execute()
        return {
            "colors": {text(k): max(0, int(v)) for k, v in colors.items()},
            "reasons_by_day": {day: {text(k): int(v) for k, v in doc.items()} for day, doc in zip(day_list, reasons,
                                                                                                  strict=True)},
            "scans_by_hour": {hour: int(count or 0) for hour, count in zip(hours, scans, strict=True)},
        }
