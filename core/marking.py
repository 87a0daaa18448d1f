"""Authority marking (赋码 / 转码) and lab results: the facts that change a colour."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace

from core.clock import Clock
from core.color import DAY, ColorRecorder
from core.directory import PersonDirectory
from core.errors import InvalidInput, Message, Msg, NotFound
from core.identity import normalize_id_number
from core.model import Credential, LabOutcome, LabResult, Marker, MarkerStatus
from core.persons import CN_TZ
from core.ports import FactRecords, PersonReads

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
    public_note: str | None = None  # what the person is told (the reason stays the authority's)


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
        raise NotFound(Msg.NO_SUCH_MARKER)
    return person_id


class MarkingService:
    def __init__(self, directory: PersonDirectory, facts: FactRecords, reads: PersonReads,
                 colors: ColorRecorder, clock: Clock) -> None:
        self._directory = directory
        self._facts = facts
        self._reads = reads
        self._colors = colors
        self._clock = clock

    def _person_for(self, request: MarkerRequest) -> str:
        if (request.id_number is None) == (request.person_id is None):
            raise InvalidInput(Msg.ONE_PERSON_REFERENCE, {"id_number": [Msg.OR_PERSON_ID]})
        if request.person_id is not None:
            if self._directory.persons.get(request.person_id) is None:
                raise NotFound(Msg.NO_SUCH_PERSON)
            return request.person_id
        now = self._clock.now()
        number = normalize_id_number(request.id_number or "", dt.datetime.fromtimestamp(now, CN_TZ).date())
        return self._directory.find_or_create(number, now).id

    def add_marker(self, request: MarkerRequest, actor: Credential) -> MarkingOutcome:
        policy = self._colors.policy
        if request.kind not in policy.markers:
            choices = ", ".join(sorted(policy.markers))
            raise InvalidInput(Msg.UNKNOWN_MARKER_KIND, {"kind": [Message(Msg.ONE_OF, choices=choices)]})
        if request.until is not None and not policy.markers[request.kind].until_allowed:
            # The policy says when a kind ends (release, tests, its duration): a request's `until`
            # must not turn a confirmed case green or change a close contact's 14 days.
            raise InvalidInput(Msg.UNTIL_NOT_ALLOWED, {"until": [Msg.POLICY_DECIDES_UNTIL]})
        now = self._clock.now()
        since = request.since if request.since is not None else now
        if not EARLIEST <= since <= now + DAY:
            raise InvalidInput(Msg.SINCE_OUT_OF_RANGE, {"since": [Msg.SINCE_RANGE]})
        if request.until is not None and request.until <= since:
            raise InvalidInput(Msg.UNTIL_BEFORE_SINCE, {"until": [Msg.AFTER_SINCE]})
        if request.until is not None and request.until > now + MAX_AHEAD:
            # A typo such as 9999-12-31 for "indefinitely": leave `until` out for that.
            raise InvalidInput(Msg.UNTIL_OUT_OF_RANGE, {"until": [Msg.UNTIL_RANGE]})
        person_id = self._person_for(request)
        marker = Marker(
            id=f"{person_id}.{secrets.token_hex(4)}",
            person_id=person_id,
            kind=request.kind,
            reason=request.reason,
            since=since,
            until=request.until,
            created_by=actor.id,
            note=request.public_note or None,
        )
        before = self._color(person_id, now)
        self._facts.add_marker(marker)
        after = self._color(person_id, now, record_change=True)
        return MarkingOutcome(marker, before, after, self._effective_until(marker))

    def _effective_until(self, marker: Marker) -> int | None:
        if marker.until is not None:
            return marker.until
        rule = self._colors.policy.markers.get(marker.kind)
        return marker.since + rule.duration_days * DAY if rule and rule.duration_days else None

    def remove_marker(self, marker_id: str, reason: str, actor: Credential) -> MarkingOutcome:
        """Clear a marker; the outcome shows it `removed`, as of now."""
        # `reason` and `actor` are not stored until the audit trail exists (docs/SECURITY.md).
        person_id = marker_person(marker_id)
        now = self._clock.now()
        before = self._color(person_id, now)
        marker = self._facts.remove_marker(person_id, marker_id)
        if marker is None:
            raise NotFound(Msg.NO_SUCH_MARKER)
        after = self._color(person_id, now, record_change=True)
        removed = replace(marker, status=MarkerStatus.REMOVED)
        return MarkingOutcome(removed, before, after, self._effective_until(marker), removed_at=now)

    def add_lab_result(self, id_number: str, sampled_at: int, result: str, lab: str) -> str:
        try:
            outcome = LabOutcome(result)
        except ValueError:
            raise InvalidInput(Msg.UNKNOWN_RESULT, {"result": [Msg.NEGATIVE_OR_POSITIVE]}) from None
        now = self._clock.now()
        if sampled_at > now + 300:
            raise InvalidInput(Msg.SAMPLED_IN_FUTURE, {"sampled_at": [Msg.IN_FUTURE]})
        person_id = self._person_for(MarkerRequest(kind="", reason="", id_number=id_number))
        self._facts.add_lab_result(person_id, LabResult(sampled_at=sampled_at, result=outcome, lab=lab))
        return self._color(person_id, now, record_change=True)

    def _color(self, person_id: str, now: int, record_change: bool = False) -> str:
        snapshot = self._reads.load(person_id)
        if record_change and snapshot.person is not None:
            last = snapshot.person.last_color
            return self._colors.evaluate_and_record(person_id, snapshot.facts, last, now).color.value
        return self._colors.derive(snapshot.facts, now).color.value
