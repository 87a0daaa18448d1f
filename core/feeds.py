"""Signed batches from machines (API.md, Feeds): labs' results and operators' stays.

Headers X-Feed-Id, X-Timestamp, X-Signature = hex HMAC-SHA256(feed secret, timestamp + "." +
body). The signature is checked before anything is parsed; a timestamp outside ±5 minutes or a
signature seen before is refused. Rows are NDJSON or a JSON array; each bad row is reported by
its line (1-based) and never drops the good ones.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.audit import Action, AuditTrail
from core.clock import Clock
from core.errors import BadSignature, DomainError, InvalidInput, Msg
from core.marking import MarkingService
from core.ports import FeedStore, SeenOnce

WINDOW = 300  # seconds either side of now (API.md)


class FeedKind(StrEnum):
    LAB = "lab"  # lab results (核酸检测结果)
    OPERATOR = "operator"  # a telecom operator's stays (行程)


@dataclass(frozen=True)
class Feed:
    """A machine that may push batches: its name (the X-Feed-Id), kind and shared secret."""

    name: str
    kind: FeedKind
    secret: str
    created_at: int

    @property
    def actor(self) -> str:
        """How the audit trail names it."""
        return f"feed:{self.name}"


@dataclass(frozen=True)
class Rejected:
    line: int
    error: DomainError


@dataclass(frozen=True)
class BatchResult:
    accepted: int
    rejected: tuple[Rejected, ...]


def rows_of(body: bytes) -> Iterator[tuple[int, Any]]:
    """(line, row) of a JSON array (line = position, 1-based) or NDJSON (line = text line);
    a line that is not JSON comes as an InvalidInput in place of its row."""
    text = body.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidInput(Msg.FEED_NOT_JSON, {"body": [Msg.FEED_NOT_JSON]}) from None
        if not isinstance(rows, list):
            raise InvalidInput(Msg.FEED_NOT_JSON, {"body": [Msg.FEED_NOT_JSON]})
        yield from enumerate(rows, start=1)
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except (ValueError, RecursionError):
            yield number, InvalidInput(Msg.FEED_ROW_NOT_JSON, {"row": [Msg.FEED_ROW_NOT_JSON]})


def epoch(value: Any, field: str) -> int:
    """Feeds give times as ISO 8601 with an offset, or epoch seconds (API.md)."""
    if isinstance(value, bool):
        raise InvalidInput(Msg.FEED_TIME, {field: [Msg.FEED_TIME]})
    if isinstance(value, int | float) and 1_000_000_000 <= value < 10_000_000_000:
        return int(value)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return int(parsed.timestamp())
    raise InvalidInput(Msg.FEED_TIME, {field: [Msg.FEED_TIME]})


def fields_of(row: Any, required: tuple[str, ...]) -> Mapping[str, Any]:
    """A row as a mapping with exactly these fields (unknown ones refused, as in the API)."""
    if not isinstance(row, dict):
        raise InvalidInput(Msg.FEED_ROW_SHAPE, {"row": [Msg.FEED_ROW_SHAPE]})
    missing = [name for name in required if name not in row]
    unknown = [name for name in row if name not in required]
    if missing or unknown:
        problems = {name: [Msg.FIELD_MISSING] for name in missing} | {name: [Msg.FIELD_UNKNOWN] for name in unknown}
        raise InvalidInput(Msg.FEED_ROW_SHAPE, problems)
    return row


class FeedService:
    def __init__(self, feeds: FeedStore, seen: SeenOnce, marking: MarkingService, audit: AuditTrail,
                 clock: Clock) -> None:
        self._feeds = feeds
        self._seen = seen
        self._marking = marking
        self._audit = audit
        self._clock = clock

    def create(self, name: str, kind: FeedKind | str) -> Feed:
        """A new feed and its secret (shown once to the operator who made it)."""
        kind = FeedKind(kind)
        if not name or len(name) > 32 or not all(c.isalnum() or c in "-_." for c in name):
            raise InvalidInput(Msg.INVALID_NAME, {"name": [Msg.LENGTH_1_64]})
        feed = Feed(name, kind, secrets.token_urlsafe(32), self._clock.now())
        self._feeds.save(feed)
        self._audit.record("operator", Action("feed.create", name, kind.value), role="operator")
        return feed

    def all(self) -> list[Feed]:
        return self._feeds.all()

    def authenticate(self, feed_id: str | None, timestamp: str | None, signature: str | None, body: bytes,
                     kind: FeedKind) -> Feed:
        """The feed that signed this body now, for the first time; else BadSignature."""
        feed = self._feeds.get(feed_id) if feed_id else None
        if feed is None or feed.kind is not kind or not timestamp or not signature:
            raise BadSignature(Msg.BAD_SIGNATURE)
        try:
            sent = int(timestamp)
        except ValueError:
            raise BadSignature(Msg.BAD_SIGNATURE) from None
        if abs(self._clock.now() - sent) > WINDOW:
            raise BadSignature(Msg.BAD_SIGNATURE)
        expected = hmac.new(feed.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.strip().lower()):
            raise BadSignature(Msg.BAD_SIGNATURE)
        if not self._seen.first_time(f"feed:{feed.name}", signature, 2 * WINDOW + 60):
            raise BadSignature(Msg.BAD_SIGNATURE)  # a replay: the same signed batch again
        return feed

    def each_row(self, body: bytes, handle: Callable[[int, Any], None]) -> BatchResult:
        """Run `handle` on every row; a refused row is reported by line, the others kept."""
        accepted, rejected = 0, []
        for line, row in rows_of(body):
            if isinstance(row, DomainError):
                rejected.append(Rejected(line, row))
                continue
            try:
                handle(line, row)
            except (InvalidInput, DomainError) as exc:
                rejected.append(Rejected(line, exc))
                continue
            accepted += 1
        return BatchResult(accepted, tuple(rejected))

    def lab_results(self, feed: Feed, body: bytes) -> BatchResult:
        """Rows {id_number, sampled_at, result, lab}: each kept result audited; a re-delivered
        batch changes nothing (the same result is the same fact)."""

        def handle(line: int, row: Any) -> None:
            doc = fields_of(row, ("id_number", "sampled_at", "result", "lab"))
            lab = doc["lab"]
            if not isinstance(lab, str) or not 1 <= len(lab) <= 64 or not isinstance(doc["id_number"], str):
                raise InvalidInput(Msg.FEED_ROW_SHAPE, {"lab": [Msg.LENGTH_1_64]})
            self._marking.add_lab_result(doc["id_number"], epoch(doc["sampled_at"], "sampled_at"),
                                         str(doc["result"]), lab, actor=feed.actor)

        return self.each_row(body, handle)
