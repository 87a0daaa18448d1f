"""The audit trail (DESIGN §4): every authority, approver and feed action, append-only and
tamper-evident. Each entry carries the hash of the one before it; the hash is an HMAC under a
key derived from the server secret, so someone who can write to Redis but lacks the secret
cannot forge a consistent chain after editing, inserting or deleting an entry, and
`verify` says at which entry the chain breaks."""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

from core.clock import Clock
from core.errors import Conflict, Msg
from core.model import AuditEntry, Credential
from core.ports import AuditLog

GENESIS = "0" * 64


def entry_hash(key: bytes, entry: AuditEntry) -> str:
    """HMAC-SHA256 over the entry's fields (all but `hash`) in a fixed canonical JSON."""
    fields = {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "role": entry.role, "action": entry.action,
              "target": entry.target, "reason": entry.reason, "before": entry.before, "after": entry.after,
              "prev": entry.prev_hash}
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


def chained(key: bytes, head: tuple[int, str], entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """The entries numbered and hashed after `head` (the last entry's seq and hash)."""
    seq, prev = head
    out = []
    for entry in entries:
        seq += 1
        linked = replace(entry, seq=seq, prev_hash=prev, hash="")
        linked = replace(linked, hash=entry_hash(key, linked))
        out.append(linked)
        prev = linked.hash
    return out


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    broken_at: int | None = None  # the position (1-based) of the first entry that does not fit
    problem: str | None = None  # edited | inserted or deleted | out of order


def verify_chain(key: bytes, entries: Iterable[AuditEntry]) -> Verification:
    """Walk the chain from the start: the first entry whose number, link or hash is wrong."""
    expected_seq, prev, count = 1, GENESIS, 0
    for entry in entries:
        count += 1
        if entry.seq != expected_seq or entry.prev_hash != prev:
            return Verification(False, count, expected_seq, "inserted or deleted")
        if not hmac.compare_digest(entry.hash, entry_hash(key, entry)):
            return Verification(False, count, expected_seq, "edited")
        expected_seq, prev = entry.seq + 1, entry.hash
    return Verification(True, count)


@dataclass(frozen=True)
class Action:
    """What happened, before it goes into the trail."""

    action: str
    target: str
    reason: str = ""
    before: str | None = None
    after: str | None = None


class AuditTrail:
    def __init__(self, log: AuditLog, key: bytes, clock: Clock) -> None:
        self._log = log
        self._key = key
        self._clock = clock

    def record(self, actor: Credential | str, *actions: Action, role: str | None = None) -> list[AuditEntry]:
        """Append the actions as one step of the chain (a batch's rows stay together)."""
        actor_id = actor if isinstance(actor, str) else actor.id
        actor_role = role or ("" if isinstance(actor, str) else str(actor.role))
        now = self._clock.now()
        drafts = [AuditEntry(0, now, actor_id, actor_role, a.action, a.target, a.reason, a.before, a.after)
                  for a in actions]
        if not drafts:
            return []
        for _ in range(20):  # compare-and-set on the head: a concurrent append makes us re-chain
            head = self._log.head()
            linked = chained(self._key, head, drafts)
            if self._log.append(head, linked):
                return linked
        raise Conflict(Msg.AUDIT_BUSY)

    def entries(self, since_seq: int = 0, limit: int = 500) -> list[AuditEntry]:
        return self._log.entries(since_seq, limit)

    def latest(self, limit: int, before: int | None = None) -> list[AuditEntry]:
        """Up to `limit` entries numbered below `before` (default: the newest ones), oldest first."""
        last = self._log.head()[0]
        end = last if before is None else min(before - 1, last)
        start = max(0, end - limit)
        return self._log.entries(start, end - start) if end > start else []

    def verify(self) -> Verification:
        return verify_chain(self._key, self._log.all_entries())
