"""Showing a health code (亮码), scanning it at a checkpoint (扫码核验), and its history."""
from __future__ import annotations

from dataclasses import dataclass

from core.accounts import account_hint, check_session, token_hash
from core.clock import Clock
from core.codes import CodeClaims, CodeIdCipher, CodeSigner, CodeVerifier, Color, InvalidCode
from core.color import Evaluation, derive_color
from core.errors import NotFound
from core.facts import Facts
from core.persons import PersonService, PersonView, live_link, require_verified
from core.policy import Policy
from core.ports import ColorChange, Link, PersonRecord, PersonStore, ScanRecord, Session

DAY = 86400


@dataclass(frozen=True)
class HealthCodeView:
    evaluation: Evaluation
    meaning: str
    qr: str
    issued_at: int
    expires_at: int
    person: PersonView


@dataclass(frozen=True)
class ScanResult:
    valid: bool
    reason: str | None = None
    detail: str | None = None
    color: Color | None = None
    changed: bool = False
    name_masked: str | None = None
    issued_at: int | None = None
    checked_at: int | None = None


@dataclass(frozen=True)
class History:
    retention_days: int
    changes: list[ColorChange]
    scans: list[ScanRecord]


class HealthCodeService:
    def __init__(
        self,
        store: PersonStore,
        persons: PersonService,
        policy: Policy,
        signer: CodeSigner,
        verifier: CodeVerifier,
        code_ids: CodeIdCipher,
        clock: Clock,
        issuer: str,
        code_ttl: int = 60,
        retention_days: int = 30,
    ) -> None:
        self._store = store
        self._persons = persons
        self.policy = policy
        self._signer = signer
        self._verifier = verifier
        self._code_ids = code_ids
        self._clock = clock
        self._issuer = issuer
        self._ttl = code_ttl
        self.retention_days = retention_days

    def evaluate(self, person_id: str, facts: Facts, last_color: str | None, now: int) -> Evaluation:
        """Derive the colour and note a change in the person's history when it moved."""
        evaluation = derive_color(facts, self.policy, now)
        if evaluation.color.value != last_color:
            change = ColorChange(now, last_color, evaluation.color.value, tuple(evaluation.reason_codes))
            self._store.record_change(person_id, last_color, change, self.retention_days * DAY)
        return evaluation

    def show(self, session: Session, person_id: str, lang: str = "zh") -> HealthCodeView:
        """The current colour, why, and a freshly signed short-lived code."""
        link, record, facts = self._store.load(person_id, session.account_id)
        return self._show(session.account_id, link, record, facts, lang)

    def show_for_token(self, token: str | None, person_id: str, lang: str = "zh") -> HealthCodeView:
        """As show(), authenticating the session token in the same round trip as the read."""
        account = account_hint(token)
        session, link, record, facts = self._store.load_for_session(token_hash(token or ""), account, person_id)
        session = check_session(account, session)
        return self._show(session.account_id, link, record, facts, lang)

    def _show(
        self, account_id: str, link: Link | None, record: PersonRecord | None, facts: Facts, lang: str,
    ) -> HealthCodeView:
        if link is None or record is None or not live_link(link, record, account_id):
            raise NotFound("no such person on this account")
        require_verified(link)  # 申领 gives a code once the platform's face check has passed
        # An erasure revokes codes to the end of its second: one issued after a re-application
        # in that second is stamped at the revocation time, or it would scan as `revoked`.
        now = max(self._clock.now(), record.revoked_before)
        evaluation = self.evaluate(record.id, facts, record.last_color, now)
        person = self._persons.view(record, link)
        qr = self.sign(record, evaluation.color, now, now + self._ttl, person.name_masked)
        return HealthCodeView(
            evaluation=evaluation,
            meaning=self.policy.meanings[evaluation.color].get(lang),
            qr=qr,
            issued_at=now,
            expires_at=now + self._ttl,
            person=person,
        )

    def sign(self, record: PersonRecord, color: Color, issued_at: int, expires_at: int, name_masked: str) -> str:
        claims = CodeClaims(
            issuer=self._issuer,
            code_id=self._code_ids.seal(record.id, issued_at),
            color=color,
            issued_at=issued_at,
            expires_at=expires_at,
            name_masked=name_masked,
        )
        return self._signer.sign(claims)

    def scan(self, qr: str, place: str) -> ScanResult:
        """Check signature, expiry and the person's status now; record it in their history.

        One round trip: the scan is written together with the read of the person's facts
        (as the colour the code showed), and amended in the rare case the status changed.
        """
        now = self._clock.now()
        try:
            claims = self._verifier.verify(qr)
            person_id, issued_at = self._code_ids.open(claims.code_id)
            if issued_at != claims.issued_at or claims.issuer != self._issuer:
                raise InvalidCode("malformed", "code id does not match its claims")
        except InvalidCode as exc:
            return ScanResult(valid=False, reason=exc.reason, detail=exc.detail or None, checked_at=now)
        expired = now >= claims.expires_at
        shown = ScanRecord(now, place, "expired" if expired else claims.color.value)
        record, facts, ref = self._store.load_and_record_scan(
            person_id, shown, claims.issued_at, self.retention_days * DAY
        )
        if record is None or record.name_ct is None or claims.issued_at < record.revoked_before:
            return ScanResult(valid=False, reason="revoked", checked_at=now)
        if expired:
            return ScanResult(valid=False, reason="expired", checked_at=now)
        evaluation = self.evaluate(person_id, facts, record.last_color, now)
        changed = evaluation.color != claims.color
        if changed and ref is not None:
            self._store.replace_scan(person_id, ref, ScanRecord(now, place, f"{evaluation.color.value} changed"))
        return ScanResult(
            valid=True,
            color=evaluation.color,
            changed=changed,
            name_masked=claims.name_masked,
            issued_at=claims.issued_at,
            checked_at=now,
        )

    def history(self, session: Session, person_id: str) -> History:
        """Colour changes and scans within the retention period.

        Where someone was scanned is personal: read only through a link on which the person's
        identity (face) check passed.
        """
        self._persons.verified(session, person_id)
        since = self._clock.now() - self.retention_days * DAY
        changes, scans = self._store.history(person_id, since)
        return History(retention_days=self.retention_days, changes=changes, scans=scans)
