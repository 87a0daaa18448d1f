"""The notifications queue on Redis: a stream with one consumer group (DESIGN §7, issue 11).

  hc:outbox                 stream of colour changes: p (person id), f, t, at, why
  hc:sent:<event>:<account> a send noted, for 7 days (a retry skips it)

Entries are deleted once finished, so the stream holds only what is still to send.
"""
from __future__ import annotations

from typing import Any

import redis

from core.model import ColorChanged

STREAM = "hc:outbox"
GROUP = "notify"
STALE_MS = 60_000  # an entry a consumer took this long ago and never finished: it died
SENT_TTL = 7 * 86_400


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisOutbox:
    def __init__(self, client: redis.Redis, stream: str = STREAM, group: str = GROUP,
                 stale_ms: int | None = None) -> None:
        self._r = client
        self._stale_ms = stale_ms
        self._stream = stream
        self._group = group
        self._group_made = False

    def enqueue(self, event: ColorChanged) -> None:
        self._r.xadd(self._stream, {"p": event.person_id, "f": event.from_color, "t": event.to_color,
                                    "at": event.at, "why": ",".join(event.reason_codes)})

    def _ensure_group(self) -> None:
        if self._group_made:
            return
        try:
            self._r.xgroup_create(self._stream, self._group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_made = True

    def take(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ColorChanged]]:
        self._ensure_group()
        # What a dead consumer left first (XAUTOCLAIM), then new entries (XREADGROUP ">").
        stale = STALE_MS if self._stale_ms is None else self._stale_ms
        _, claimed, *_ = self._r.xautoclaim(self._stream, self._group, consumer, stale, "0-0", count=count)
        entries: list[Any] = list(claimed)
        if len(entries) < count:
            replies: Any = self._r.xreadgroup(self._group, consumer, {self._stream: ">"},
                                              count=count - len(entries), block=block_ms or None)
            for _, stream_entries in replies or []:
                entries.extend(stream_entries)
        return [(_text(entry_id), _event(fields)) for entry_id, fields in entries if fields]

    def done(self, event_id: str) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.xack(self._stream, self._group, event_id)
        pipe.xdel(self._stream, event_id)
        pipe.execute()

    def was_sent(self, event_id: str, account_id: str) -> bool:
        return bool(self._r.exists(f"hc:sent:{event_id}:{account_id}"))

    def mark_sent(self, event_id: str, account_id: str) -> None:
        self._r.set(f"hc:sent:{event_id}:{account_id}", b"1", ex=SENT_TTL)

    def pending(self) -> int:
        """Entries still queued (taken or not): for /metrics and the tests."""
        return int(self._r.xlen(self._stream))


def _event(fields: dict[bytes, bytes]) -> ColorChanged:
    text = {_text(k): _text(v) for k, v in fields.items()}
    reasons = tuple(code for code in text.get("why", "").split(",") if code)
    return ColorChanged(text["p"], text["f"], text["t"], int(text["at"]), reasons)
