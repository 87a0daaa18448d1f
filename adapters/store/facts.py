"""Redis repositories of a person's facts (markers, lab results) and history (changes, scans)."""
from __future__ import annotations

import json

import redis

from adapters.store import scripts
from adapters.store.encoding import (
    change_json,
    lab_member,
    marker_value,
    parse_change,
    parse_marker,
    parse_scan,
    scan_json,
    text,
)
from adapters.store.keys import changes_key, labs_key, markers_key, person_key, scans_key
from core.model import ColorChange, LabResult, Marker, MarkerStatus, ScanRecord

MAX_LAB_RESULTS = 50
PENDING = "hc:pending"  # manual red markers waiting for approval: marker id -> created at


class RedisFactRecords:
    """FactRecords: markers in a hash, lab results in a sorted set (the latest 50)."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._remove_marker = scripts.register(client, "remove_marker")
        self._replace_marker = scripts.register(client, "replace_marker")
        self._add_lab = scripts.register(client, "lab_add")
        self._add_marker = scripts.register(client, "marker_add")

    def add_marker(self, marker: Marker) -> None:
        self._add_marker(keys=[markers_key(marker.person_id), person_key(marker.person_id)],
                         args=[marker.id, marker_value(marker)])
        if marker.status == MarkerStatus.PENDING:
            # The queue is one key for all persons (another slot): a step of its own.
            self._r.zadd(PENDING, {marker.id: marker.created_at})

    def remove_marker(self, person_id: str, marker_id: str) -> Marker | None:
        raw = self._remove_marker(keys=[markers_key(person_id), person_key(person_id)], args=[marker_id])
        self._r.zrem(PENDING, marker_id)
        return parse_marker(person_id, marker_id, raw) if raw else None

    def replace_marker(self, marker: Marker, expected: MarkerStatus) -> bool:
        replaced = bool(self._replace_marker(keys=[markers_key(marker.person_id), person_key(marker.person_id)],
                                             args=[marker.id, expected.value, marker_value(marker)]))
        if replaced:
            self._r.zrem(PENDING, marker.id)
        return replaced

    def pending_markers(self, limit: int) -> list[tuple[str, int]]:
        entries: list[tuple[bytes, float]] = self._r.zrange(PENDING, 0, limit - 1, withscores=True)  # type: ignore[assignment]
        return [(text(marker_id), int(at)) for marker_id, at in entries]

    def add_lab_result(self, person_id: str, result: LabResult) -> bool:
        args: list[str | int] = [lab_member(result), result.sampled_at, MAX_LAB_RESULTS]
        return bool(self._add_lab(keys=[labs_key(person_id), person_key(person_id)], args=args))


class RedisHistoryLog:
    """HistoryLog: changes and scans in sorted sets by time, trimmed and expiring by retention."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._record_change = scripts.register(client, "record_change")
        self._replace_scan = scripts.register(client, "replace_scan")

    def record_change(self, person_id: str, expected_last: str | None, change: ColorChange, retention: int) -> bool:
        args: list[str | int] = [expected_last or "", change.to_color, change.at, change_json(change), retention]
        return bool(self._record_change(keys=[person_key(person_id), changes_key(person_id)], args=args))

    def replace_scan(self, person_id: str, ref: str, scan: ScanRecord) -> None:
        seq, old = ref.split("|", 1)
        issued_at = json.loads(old).get("iat")  # kept: the amended entry still counts for its code
        self._replace_scan(keys=[scans_key(person_id)], args=[ref, f"{seq}|{scan_json(scan, issued_at)}", scan.at])

    def history(self, person_id: str, since: int) -> tuple[list[ColorChange], list[ScanRecord]]:
        pipe = self._r.pipeline(transaction=False)
        pipe.zrevrangebyscore(changes_key(person_id), "+inf", since)
        pipe.zrevrangebyscore(scans_key(person_id), "+inf", since)
        raw_changes, raw_scans = pipe.execute()
        return [parse_change(raw) for raw in raw_changes], [parse_scan(raw) for raw in raw_scans]
