"""Redis repositories of the authorities' records: appeals, risk areas, the audit trail.

  hc:p:{<pid>}:ap        appeals of a person (hash id -> JSON)
  hc:appeals             the open ones (sorted set appeal id -> created at): the authorities' list
  hc:{risk}              risk areas (hash code -> JSON);  hc:{risk}:log  their changes, newest first
  hc:{audit}:log         the audit trail (list of JSON entries, oldest first)
  hc:{audit}:head        "seq|hash" of its last entry
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.encoding import text
from adapters.store.keys import person_key
from core.audit import GENESIS
from core.model import Appeal, AppealStatus, AuditEntry, RiskArea

OPEN_APPEALS = "hc:appeals"
RISK, RISK_LOG, RISK_VERSION = "hc:{risk}", "hc:{risk}:log", "hc:{risk}:ver"
RISK_LOG_KEPT = 10_000
AUDIT_LOG, AUDIT_HEAD = "hc:{audit}:log", "hc:{audit}:head"


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def appeals_key(person_id: str) -> str:
    return person_key(person_id) + ":ap"


def _appeal(raw: bytes | str) -> Appeal:
    doc = json.loads(raw)
    return Appeal(**{**doc, "status": AppealStatus(doc["status"])})


def appeal_person(appeal_id: str) -> str:
    """Appeal ids carry their person's id, as marker ids do."""
    return appeal_id.partition(".")[0]


class RedisAppeals:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._decide = scripts.register(client, "decide_appeal")

    def add(self, appeal: Appeal) -> None:
        self._r.hset(appeals_key(appeal.person_id), appeal.id, _json(dataclasses.asdict(appeal)))
        self._r.zadd(OPEN_APPEALS, {appeal.id: appeal.created_at})

    def get(self, person_id: str, appeal_id: str) -> Appeal | None:
        raw = self._r.hget(appeals_key(person_id), appeal_id)
        return _appeal(raw) if isinstance(raw, bytes | str) else None

    def for_person(self, person_id: str) -> list[Appeal]:
        raw: dict[bytes, bytes] = self._r.hgetall(appeals_key(person_id))  # type: ignore[assignment]
        return sorted((_appeal(v) for v in raw.values()), key=lambda a: a.created_at, reverse=True)

    def open_appeals(self, limit: int) -> list[Appeal]:
        found = []
        ids: list[bytes] = self._r.zrange(OPEN_APPEALS, 0, limit - 1)  # type: ignore[assignment]
        for appeal_id in ids:
            appeal = self.get(appeal_person(text(appeal_id)), text(appeal_id))
            if appeal is not None and appeal.status == AppealStatus.OPEN:
                found.append(appeal)
        return found

    def decide(self, appeal: Appeal) -> bool:
        decided = bool(self._decide(keys=[appeals_key(appeal.person_id)],
                                    args=[appeal.id, _json(dataclasses.asdict(appeal))]))
        if decided:
            self._r.zrem(OPEN_APPEALS, appeal.id)
        return decided


def _area(raw: bytes | str) -> RiskArea:
    return RiskArea(**json.loads(raw))


class RedisRiskAreas:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._set = scripts.register(client, "risk_set")

    def set(self, area: RiskArea) -> RiskArea | None:
        value = _json(dataclasses.asdict(area))
        # One hash tag: the table, its log and its version together, in one script.
        previous = self._set(keys=[RISK, RISK_LOG, RISK_VERSION], args=[area.code, value, RISK_LOG_KEPT])
        return _area(previous) if previous else None

    def current(self) -> dict[str, RiskArea]:
        raw: dict[bytes, bytes] = self._r.hgetall(RISK)  # type: ignore[assignment]
        return {text(code): _area(value) for code, value in raw.items()}

    def version(self) -> int:
        return int(self._r.get(RISK_VERSION) or 0)

    def history(self, limit: int) -> list[RiskArea]:
        return [_area(raw) for raw in self._r.lrange(RISK_LOG, 0, limit - 1)]


def _entry(raw: bytes | str) -> AuditEntry:
    return AuditEntry(**json.loads(raw))


def _head(raw: Any) -> tuple[int, str]:
    if not raw:
        return 0, GENESIS
    seq, _, digest = text(raw).partition("|")
    return int(seq), digest


class RedisAuditLog:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._append = scripts.register(client, "audit_append")

    def head(self) -> tuple[int, str]:
        return _head(self._r.get(AUDIT_HEAD))

    def append(self, expected_head: tuple[int, str], entries: list[AuditEntry]) -> bool:
        if not entries:
            return True
        expected = "" if expected_head[0] == 0 else f"{expected_head[0]}|{expected_head[1]}"
        new_head = f"{entries[-1].seq}|{entries[-1].hash}"
        args = [expected, new_head, *(_json(dataclasses.asdict(e)) for e in entries)]
        return bool(self._append(keys=[AUDIT_LOG, AUDIT_HEAD], args=args))

    def entries(self, since_seq: int, limit: int) -> list[AuditEntry]:
        # seq n is at index n - 1: the entries after `since_seq`.
        return [_entry(raw) for raw in self._r.lrange(AUDIT_LOG, since_seq, since_seq + limit - 1)]

    def all_entries(self) -> Iterator[AuditEntry]:
        start, chunk = 0, 1_000
        while True:
            batch = self._r.lrange(AUDIT_LOG, start, start + chunk - 1)
            if not batch:
                return
            for raw in batch:
                yield _entry(raw)
            start += chunk
