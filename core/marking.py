"""Authority marking (赋码 / 转码) and lab results: the facts that change a colour."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace

from core.clock import Clock
from core.color import derive_color
from core.errors import InvalidInput, NotFound
from core.facts import LAB_RESULTS, LabResult, Marker
from core.health_codes import DAY, HealthCodeService
from core.identity import normalize_id_number
from core.persons import CN_TZ, find_or_create_person
from core.ports import Credential, PersonStore, PiiVault

EARLIEST = 1575158400  # 2019-12-01T00:00Z: no marking can predate the epidemic
MAX_AHEAD = 366 * DAY


@dataclass(frozen=True)
class MarkerRequest:
    kind: str
    reason: str
    id_number: str | None = None
    person_id: str | None = None
    since: int | None = None
    until: int | None = None


@dataclass(frozen=True)
class MarkingOutcome:
    marker: Marker
    color_before: str
    color_after: str
    until: int | None = None  # the effective end: explicit, or since + the policy's duration
    removed_at: int | None = None


def marker_person(marker_id: str) -> str:
    """Marker ids carry their person's id, so a removal needs no global index."""
    person_id, _, rest = marker_id.partition(".")
    if len(person_id) != 24 or not rest:
        raise NotFound("no such marker")
    return person_id


class MarkingService:
    def __init__(
        self, store: PersonStore, vault: PiiVault, codes: HealthCodeService, clock: Clock
    ) -> None:
        self._store = store
        self._vault = vault
        self._codes = codes
        self._clock = clock

    def _person_for(self, request: MarkerRequest) -> str:
        if (request.id_number is None) == (request.person_id is None):
            raise InvalidInput("give exactly one of id_number and person_id", {"id_number": ["or person_id"]})
        if request.person_id is not None:
            if self._store.get(request.person_id) is None:
                raise NotFound("no such person")
            return request.person_id
        now = self._clock.now()
        number = normalize_id_number(request.id_number or "", dt.datetime.fromtimestamp(now, CN_TZ).date())
        return find_or_create_person(self._store, self._vault, number, now).id

    def add_marker(self, request: MarkerRequest, actor: Credential) -> MarkingOutcome:
        policy = self._codes.policy
        if request.kind not in policy.markers:
            raise InvalidInput("unknown marker kind", {"kind": [f"one of {', '.join(sorted(policy.markers))}"]})
        if request.until is not None and not policy.markers[request.kind].until_allowed:
            # The policy says when a kind ends (release, tests, its duration): a request's `until`
            # must not turn a confirmed case green or change a close contact's 14 days.
            raise InvalidInput("until is not allowed for this marker kind",
                               {"until": ["the policy decides when this kind ends; omit until"]})
        now = self._clock.now()
        since = request.since if request.since is not None else now
        if not EARLIEST <= since <= now + DAY:
            raise InvalidInput("since is out of range", {"since": ["must be between 2019-12-01 and tomorrow"]})
        if request.until is not None and request.until <= since:
            raise InvalidInput("until must be after since", {"until": ["must be after since"]})
        if request.until is not None and request.until > now + MAX_AHEAD:
            # A typo such as 9999-12-31 for "indefinitely": leave `until` out for that.
            raise InvalidInput("until is out of range", {"until": ["at most one year ahead; omit it for no end"]})
        person_id = self._person_for(request)
        marker = Marker(
            id=f"{person_id}.{secrets.token_hex(4)}",
            person_id=person_id,
            kind=request.kind,
            reason=request.reason,
            since=since,
            until=request.until,
            created_by=actor.id,
        )
        before = self._color(person_id, now)
        self._store.add_marker(marker)
        after = self._color(person_id, now, record_change=True)
        return MarkingOutcome(marker, before, after, self._effective_until(marker))

    def _effective_until(self, marker: Marker) -> int | None:
        if marker.until is not None:
            return marker.until
        rule = self._codes.policy.markers.get(marker.kind)
        return marker.since + rule.duration_days * DAY if rule and rule.duration_days else None

    def remove_marker(self, marker_id: str, reason: str, actor: Credential) -> MarkingOutcome:
        """Clear a marker; the outcome shows it `removed`, as of now."""
        # `reason` and `actor` are not stored until the audit trail exists (docs/SECURITY.md).
        person_id = marker_person(marker_id)
        now = self._clock.now()
        before = self._color(person_id, now)
        marker = self._store.remove_marker(person_id, marker_id)
        if marker is None:
            raise NotFound("no such marker")
        after = self._color(person_id, now, record_change=True)
        removed = replace(marker, status="removed")
        return MarkingOutcome(removed, before, after, self._effective_until(marker), removed_at=now)

    def add_lab_result(self, id_number: str, sampled_at: int, result: str, lab: str) -> str:
        if result not in LAB_RESULTS:
            raise InvalidInput("unknown result", {"result": ["negative or positive"]})
        now = self._clock.now()
        if sampled_at > now + 300:
            raise InvalidInput("sampled in the future", {"sampled_at": ["is in the future"]})
        person_id = self._person_for(MarkerRequest(kind="", reason="", id_number=id_number))
        self._store.add_lab_result(person_id, LabResult(sampled_at=sampled_at, result=result, lab=lab))
        return self._color(person_id, now, record_change=True)

    def _color(self, person_id: str, now: int, record_change: bool = False) -> str:
        _, record, facts = self._store.load(person_id)
        if record_change and record is not None:
            return self._codes.evaluate(person_id, facts, record.last_color, now).color.value
        return derive_color(facts, self._codes.policy, now).color.value
