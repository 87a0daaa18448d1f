"""Authority marking (赋码 / 转码) and lab results: the facts that change a colour, each audited.

No single credential turns anyone red (the 2022 misuse of health codes against bank depositors):
a manual marker that colours red is `pending`, with no effect, until another credential approves
it, and lapses if nobody does within the policy's `approval.pending_hours`. Every marker names a
policy kind (an epidemic-control reason) and a free-text reason; every action is one audit entry.
"""
from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.audit import Action, AuditTrail
from core.clock import Clock
from core.color import DAY, HOUR, ColorRecorder
from core.directory import PersonDirectory
from core.errors import Conflict, DomainError, Forbidden, InvalidInput, Message, Msg, NotFound
from core.identity import normalize_id_number
from core.model import Color, Credential, LabOutcome, LabResult, Marker, MarkerStatus
from core.persons import CN_TZ
from core.policy import Policy
from core.ports import FactRecords, PersonReads

EARLIEST = 1575158400  # 2019-12-01T00:00Z: no marking can predate the epidemic
MAX_AHEAD = 366 * DAY
SYSTEM = "system"  # the actor of what happens by itself (a pending marker lapsing)


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
    lapses_at: int | None = None  # a pending marker: when it lapses unless approved


@dataclass(frozen=True)
class BulkRow:
    """One row of a bulk marking: its outcome, or why it was refused."""

    line: int
    outcome: MarkingOutcome | None = None
    error: DomainError | None = None


def marker_person(marker_id: str) -> str:
    """Marker ids carry their person's id, so a removal needs no global index."""
    person_id, _, rest = marker_id.partition(".")
    if len(person_id) != 24 or not rest:
        raise NotFound(Msg.NO_SUCH_MARKER)
    return person_id


class MarkingService:
    def __init__(self, directory: PersonDirectory, facts: FactRecords, reads: PersonReads,
                 colors: ColorRecorder, clock: Clock, audit: AuditTrail) -> None:
        self._directory = directory
        self._facts = facts
        self._reads = reads
        self._colors = colors
        self._clock = clock
        self._audit = audit

    @property
    def policy(self) -> Policy:
        return self._colors.policy

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

    def _checked_since(self, request: MarkerRequest, now: int) -> int:
        """The request's start, checked against the policy's kind and plausible dates."""
        policy = self._colors.policy
        if request.kind not in policy.markers:
            choices = ", ".join(sorted(policy.markers))
            raise InvalidInput(Msg.UNKNOWN_MARKER_KIND, {"kind": [Message(Msg.ONE_OF, choices=choices)]})
        if request.until is not None and not policy.markers[request.kind].until_allowed:
            # The policy says when a kind ends (release, tests, its duration): a request's `until`
            # must not turn a confirmed case green or change a close contact's 14 days.
            raise InvalidInput(Msg.UNTIL_NOT_ALLOWED, {"until": [Msg.POLICY_DECIDES_UNTIL]})
        since = request.since if request.since is not None else now
        if not EARLIEST <= since <= now + DAY:
            raise InvalidInput(Msg.SINCE_OUT_OF_RANGE, {"since": [Msg.SINCE_RANGE]})
        if request.until is not None and request.until <= since:
            raise InvalidInput(Msg.UNTIL_BEFORE_SINCE, {"until": [Msg.AFTER_SINCE]})
        if request.until is not None and request.until > now + MAX_AHEAD:
            # A typo such as 9999-12-31 for "indefinitely": leave `until` out for that.
            raise InvalidInput(Msg.UNTIL_OUT_OF_RANGE, {"until": [Msg.UNTIL_RANGE]})
        return since

    def add_marker(self, request: MarkerRequest, actor: Credential | str, *, self_declared: bool = False,
                   audit: bool = True) -> MarkingOutcome:
        """Mark a person; a manual red marker waits, pending, for another credential's approval."""
        now = self._clock.now()
        since = self._checked_since(request, now)
        rule = self._colors.policy.markers[request.kind]
        person_id = self._person_for(request)
        pending = rule.color is Color.RED and not self_declared
        actor_id = actor if isinstance(actor, str) else actor.id
        marker = Marker(
            id=f"{person_id}.{secrets.token_hex(4)}", person_id=person_id, kind=request.kind,
            reason=request.reason, since=since, until=request.until, created_by=actor_id,
            status=MarkerStatus.PENDING if pending else MarkerStatus.ACTIVE, note=request.public_note or None,
            created_at=now,
        )
        before = self._color(person_id, now)
        self._facts.add_marker(marker)
        after = self._color(person_id, now, record_change=True)
        if audit:
            action = "marker.propose" if pending else "marker.add"
            self._audit.record(actor, Action(action, marker.id, request.reason, before, after))
        return MarkingOutcome(marker, before, after, self._effective_until(marker), lapses_at=self._lapses(marker))

    def add_markers(self, requests: Sequence[MarkerRequest], actor: Credential) -> list[BulkRow]:
        """A bulk marking (a list of ID numbers): each row as add_marker() would, each reported."""
        rows = []
        for line, request in enumerate(requests, start=1):
            try:
                rows.append(BulkRow(line, outcome=self.add_marker(request, actor)))
            except (InvalidInput, NotFound) as exc:
                rows.append(BulkRow(line, error=exc))
        return rows

    def approve(self, marker_id: str, approver: Credential) -> MarkingOutcome:
        """A second credential lets a pending red marker colour the code."""
        marker = self._pending(marker_id)
        if marker.created_by == approver.id:
            raise Forbidden(Msg.SAME_CREDENTIAL)
        now = self._clock.now()
        before = self._color(marker.person_id, now)
        approved = replace(marker, status=MarkerStatus.ACTIVE, approved_by=approver.id)
        if not self._facts.replace_marker(approved, expected=MarkerStatus.PENDING):
            raise Conflict(Msg.NOT_PENDING)
        after = self._color(marker.person_id, now, record_change=True)
        self._audit.record(approver, Action("marker.approve", marker.id, marker.reason, before, after))
        return MarkingOutcome(approved, before, after, self._effective_until(approved))

    def pending(self, limit: int = 200) -> list[MarkingOutcome]:
        """The approval queue, oldest first; markers past their time lapse here (audited)."""
        now = self._clock.now()
        queue = []
        for marker_id, _ in self._facts.pending_markers(limit):
            marker = self._marker(marker_id)
            if marker is None or marker.status != MarkerStatus.PENDING:
                continue
            if self._lapsed(marker, now):
                self._lapse(marker, now)
                continue
            color = self._color(marker.person_id, now)
            queue.append(MarkingOutcome(marker, color, color, self._effective_until(marker),
                                        lapses_at=self._lapses(marker)))
        return queue

    def _pending(self, marker_id: str) -> Marker:
        marker = self._marker(marker_id)
        if marker is None:
            raise NotFound(Msg.NO_SUCH_MARKER)
        if marker.status == MarkerStatus.PENDING and self._lapsed(marker, self._clock.now()):
            self._lapse(marker, self._clock.now())
            raise Conflict(Msg.NOT_PENDING)
        if marker.status != MarkerStatus.PENDING:
            raise Conflict(Msg.NOT_PENDING)
        return marker

    def _lapse(self, marker: Marker, now: int) -> None:
        if self._facts.replace_marker(replace(marker, status=MarkerStatus.LAPSED), expected=MarkerStatus.PENDING):
            color = self._color(marker.person_id, now)
            self._audit.record(SYSTEM, Action("marker.lapse", marker.id, "no approval in time", color, color),
                               role=SYSTEM)

    def _lapses(self, marker: Marker) -> int | None:
        if marker.status != MarkerStatus.PENDING:
            return None
        return marker.created_at + self._colors.policy.approval_hours * HOUR

    def _lapsed(self, marker: Marker, now: int) -> bool:
        lapses = self._lapses(marker)
        return lapses is not None and now >= lapses

    def marker(self, marker_id: str) -> Marker | None:
        """One marker as stored, whatever its status (what an appeal contests, say)."""
        return self._marker(marker_id)

    def _marker(self, marker_id: str) -> Marker | None:
        person_id = marker_person(marker_id)
        return next((m for m in self._reads.load(person_id).facts.markers if m.id == marker_id), None)

    def _effective_until(self, marker: Marker) -> int | None:
        if marker.until is not None:
            return marker.until
        rule = self._colors.policy.markers.get(marker.kind)
        return marker.since + rule.duration_days * DAY if rule and rule.duration_days else None

    def remove_marker(self, marker_id: str, reason: str, actor: Credential) -> MarkingOutcome:
        """Clear a marker (pending or in effect); the outcome shows it `removed`, as of now."""
        person_id = marker_person(marker_id)
        now = self._clock.now()
        before = self._color(person_id, now)
        marker = self._facts.remove_marker(person_id, marker_id)
        if marker is None:
            raise NotFound(Msg.NO_SUCH_MARKER)
        after = self._color(person_id, now, record_change=True)
        self._audit.record(actor, Action("marker.remove", marker_id, reason, before, after))
        removed = replace(marker, status=MarkerStatus.REMOVED)
        return MarkingOutcome(removed, before, after, self._effective_until(marker), removed_at=now)

    def add_lab_result(self, id_number: str, sampled_at: int, result: str, lab: str,
                       actor: Credential | str = SYSTEM) -> str:
        """A lab's result: a positive colours by the policy (no approval: the lab is the evidence),
        negatives clear what the policy says. The same result again changes nothing."""
        try:
            outcome = LabOutcome(result)
        except ValueError:
            raise InvalidInput(Msg.UNKNOWN_RESULT, {"result": [Msg.NEGATIVE_OR_POSITIVE]}) from None
        now = self._clock.now()
        if sampled_at > now + 300:
            raise InvalidInput(Msg.SAMPLED_IN_FUTURE, {"sampled_at": [Msg.IN_FUTURE]})
        person_id = self._person_for(MarkerRequest(kind="", reason="", id_number=id_number))
        before = self._color(person_id, now)
        if not self._facts.add_lab_result(person_id, LabResult(sampled_at=sampled_at, result=outcome, lab=lab)):
            return before  # delivered before: nothing changes, nothing more to audit
        after = self._color(person_id, now, record_change=True)
        role = "feed" if isinstance(actor, str) else None
        self._audit.record(actor, Action(f"lab.{outcome.value}", person_id, lab, before, after), role=role)
        return after

    def _color(self, person_id: str, now: int, record_change: bool = False) -> str:
        snapshot = self._reads.load(person_id)
        if record_change and snapshot.person is not None:
            last = snapshot.person.last_color
            return self._colors.evaluate_and_record(person_id, snapshot.facts, last, now).color.value
        return self._colors.derive(snapshot.facts, now).color.value
