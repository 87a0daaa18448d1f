"""What a person does about their own colour: declare (自主申报) and appeal (申诉); and the
authority's decision on an appeal, audited and shown to the person."""
from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.audit import Action, AuditTrail
from core.clock import Clock
from core.errors import Conflict, InvalidInput, Msg, NotFound
from core.marking import MarkerRequest, MarkingService
from core.model import Appeal, AppealStatus, Credential, MarkerStatus, Session
from core.persons import PersonService
from core.ports import Appeals, PersonReads

SYMPTOMS, DECLARED_CONTACT = "symptoms", "declared_contact"
MAX_OPEN_PER_PERSON = 3  # a person contests a few markers at a time, not a flood of appeals


@dataclass(frozen=True)
class Declaration:
    symptoms: tuple[str, ...] = ()
    contact_with_case: bool = False
    note: str = ""


def appeal_person(appeal_id: str) -> str:
    """Appeal ids carry their person's id, as marker ids do."""
    person_id, _, rest = appeal_id.partition(".")
    if len(person_id) != 24 or not rest:
        raise NotFound(Msg.NO_SUCH_APPEAL)
    return person_id


class AppealService:
    def __init__(self, appeals: Appeals, persons: PersonService, reads: PersonReads, marking: MarkingService,
                 audit: AuditTrail, clock: Clock) -> None:
        self._appeals = appeals
        self._persons = persons
        self._reads = reads
        self._marking = marking
        self._audit = audit
        self._clock = clock

    # -- the person ------------------------------------------------------------------------

    def declare(self, session: Session, person_id: str, declaration: Declaration) -> None:
        """Symptoms or a contact with a case, declared on a face-checked link: yellow as the
        policy says (symptoms until a negative test), no approval needed (not red)."""
        _, record = self._persons.verified(session, person_id)
        kinds = [kind for kind, declared in ((SYMPTOMS, bool(declaration.symptoms)),
                                             (DECLARED_CONTACT, declaration.contact_with_case)) if declared]
        if not kinds:
            raise InvalidInput(Msg.NOTHING_DECLARED, {"symptoms": [Msg.NOTHING_DECLARED]})
        for kind in kinds:
            rule = self._marking.policy.markers.get(kind)
            if rule is None or not rule.self_declared:
                raise InvalidInput(Msg.NOT_DECLARABLE, {"kind": [Msg.NOT_DECLARABLE]})
        reason = "、".join(declaration.symptoms) or declaration.note or "自主申报"
        for kind in kinds:
            self._marking.add_marker(MarkerRequest(kind=kind, reason=reason[:500], person_id=record.id),
                                     f"self:{session.account_id}", self_declared=True, audit=False)

    def appeal(self, session: Session, person_id: str, reason: str, marker_id: str | None) -> Appeal:
        """申诉: contest the colour, or one marker of it; open until an authority decides."""
        self._persons.verified(session, person_id)
        if marker_id is not None:
            markers = self._reads.load(person_id).facts.markers
            if not any(m.id == marker_id and m.status == MarkerStatus.ACTIVE for m in markers):
                raise NotFound(Msg.NO_SUCH_MARKER)
        open_ones = [a for a in self._appeals.for_person(person_id) if a.status == AppealStatus.OPEN]
        if len(open_ones) >= MAX_OPEN_PER_PERSON or any(a.marker_id == marker_id for a in open_ones):
            raise Conflict(Msg.ALREADY_APPEALED)
        appeal = Appeal(id=f"{person_id}.{secrets.token_hex(4)}", person_id=person_id, reason=reason,
                        created_at=self._clock.now(), marker_id=marker_id)
        self._appeals.add(appeal)
        return appeal

    def appeals_of(self, session: Session, person_id: str) -> list[Appeal]:
        self._persons.verified(session, person_id)
        return self._appeals.for_person(person_id)

    # -- the authority ---------------------------------------------------------------------

    def open_appeals(self, limit: int = 200) -> list[Appeal]:
        return self._appeals.open_appeals(limit)

    def decide(self, appeal_id: str, upheld: bool, reason: str, actor: Credential) -> Appeal:
        """Upheld clears the contested marker (all the person's active markers if none was
        named); rejected keeps it. Audited; the person sees the decision with its reason."""
        person_id = appeal_person(appeal_id)
        appeal = self._appeals.get(person_id, appeal_id)
        if appeal is None:
            raise NotFound(Msg.NO_SUCH_APPEAL)
        if appeal.status != AppealStatus.OPEN:
            raise Conflict(Msg.APPEAL_DECIDED)
        decided = replace(appeal, status=AppealStatus.UPHELD if upheld else AppealStatus.REJECTED,
                          decided_at=self._clock.now(), decided_by=actor.id, decision_reason=reason)
        if not self._appeals.decide(decided):
            raise Conflict(Msg.APPEAL_DECIDED)
        if upheld:
            for marker_id in self._contested(appeal):
                self._marking.remove_marker(marker_id, f"申诉成立：{reason}"[:500], actor)
        self._audit.record(actor, Action(f"appeal.{decided.status.value}", appeal.id, reason))
        return decided

    def _contested(self, appeal: Appeal) -> Sequence[str]:
        markers = self._reads.load(appeal.person_id).facts.markers
        active = [m.id for m in markers if m.status in (MarkerStatus.ACTIVE, MarkerStatus.PENDING)]
        if appeal.marker_id is None:
            return active
        return [m for m in active if m == appeal.marker_id]
