"""Showing a health code (亮码), scanning it at a checkpoint (扫码核验), and its history."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from core.accounts import account_hint, check_session, token_hash
from core.clock import Clock
from core.code_cache import AnswerCache
from core.codes import CodeIssuer, InvalidCode
from core.color import ColorRecorder, Evaluation
from core.directory import PersonDirectory, PersonView
from core.errors import LimitReached, Msg, NotFound, Unauthorized
from core.model import (
    Admission,
    CachedAnswer,
    CacheProbe,
    Color,
    ColorChange,
    PersonRecord,
    PersonSnapshot,
    Remember,
    ScanFailure,
    ScanRecord,
    Session,
)
from core.persons import PersonService, live_link, require_verified
from core.ports import Counters, HistoryLog, PersonReads


class HealthCodeView(NamedTuple):  # made on every read that signs (see CachedAnswer)
    evaluation: Evaluation
    meaning: str
    qr: str
    issued_at: int
    expires_at: int
    person: PersonView
    remember: Remember | None = None  # where to keep the answer built from this view for reuse


class ScanResult(NamedTuple):  # made on every scan (see CachedAnswer)
    valid: bool
    reason: ScanFailure | None = None
    detail: str | None = None
    color: Color | None = None
    changed: bool = False
    name_masked: str | None = None
    issued_at: int | None = None
    checked_at: int | None = None
    counted: bool = False  # the scan's Admission was counted (in the round trip that recorded it)


@dataclass(frozen=True)
class History:
    retention_days: int
    changes: list[ColorChange]
    scans: list[ScanRecord]


class HealthCodeService:
    def __init__(self, reads: PersonReads, history: HistoryLog, persons: PersonService,
                 directory: PersonDirectory, colors: ColorRecorder, issuer: CodeIssuer, clock: Clock,
                 counters: Counters | None = None, cache: AnswerCache | None = None) -> None:
        self._reads = reads
        self._cache = cache
        self._history = history
        self._persons = persons
        self._directory = directory
        self._colors = colors
        self._issuer = issuer
        self._clock = clock
        self._counters = counters

    @property
    def retention_days(self) -> int:
        return self._colors.retention_days

    def show(self, session: Session, person_id: str, lang: str = "zh") -> HealthCodeView:
        """The current colour, why, and a freshly signed short-lived code."""
        return self._show(session.account_id, self._reads.load(person_id, session.account_id), lang)

    def show_for_token(self, token: str | None, person_id: str, lang: str = "zh",
                       variant: str | None = None) -> HealthCodeView | CachedAnswer:
        """As show(), authenticating the session token in the same round trip as the read.

        With the code cache on, the answer built for this account, language and `variant` may
        come back as it was (CachedAnswer) while nothing it was built from has changed; a new
        view carries where to keep its answer (`remember`). No variant: no reuse."""
        account, hashed = account_hint(token), token_hash(token or "")
        cache = self._cache if self._cache is not None and self._cache.enabled and variant is not None else None
        probe = None
        if cache is not None:
            slot, now = f"{account[:16]}|{lang}|{variant}", self._clock.now()
            salt, policy, risk = cache.refresh_salt(now)
            kept = self._reads.load_answer(hashed, account, person_id, slot, salt, now)
            if kept is not None:  # a refresh: the lean read, no snapshot, no probe
                if kept.account_id != account:
                    raise Unauthorized(Msg.LOGIN_REQUIRED)  # as check_session
                # Kept under this salt, and the versions in force (this round trip's) are its.
                if kept.risk_version == risk and (kept.policy_version is None or kept.policy_version == policy):
                    return kept.answer
                cache.observe_versions(kept.policy_version, kept.risk_version)  # behind: reload
                cache.forget_refresh_salt()  # or only the salt was: made again at the next refresh
            # An answer is looked for (and a digest made to keep one under) from this process's
            # second read of the slot on, as it is kept (admit): most reads are one-offs. The
            # versions are read in the same round trip all the same.
            look = cache.read_before(person_id, slot, now)
            probe = CacheProbe(slot, now, cache.salt() if look else "", look)
        snapshot = self._reads.load_for_session(hashed, account, person_id, probe)
        session = check_session(account, snapshot.session)
        if cache is not None and probe is not None and cache.observe(snapshot.globals) and probe.look:
            # This process held an older policy or risk table: the digest was salted with it.
            probe = probe._replace(salt=cache.salt())
            snapshot = self._reads.load_for_session(hashed, account, person_id, probe)
            session = check_session(account, snapshot.session)
        if snapshot.cached is not None:
            return snapshot.cached
        view = self._show(session.account_id, snapshot, lang)
        if cache is not None and probe is not None and snapshot.digest is not None:
            until = cache.reuse_until(view.evaluation, view.issued_at, view.expires_at, snapshot.facts_until)
            if until > probe.now and cache.admit(person_id, probe.slot, probe.now, until):
                view = view._replace(remember=Remember(person_id, probe.slot, snapshot.digest, until,
                                                       view.issued_at, view.expires_at))
        elif cache is not None and probe is not None:  # a first read here: the next one looks
            cache.note_read(person_id, probe.slot, probe.now)
        return view

    def remember(self, view: HealthCodeView, body: bytes) -> None:
        """Keep the answer built from `view` for reuse (when it was read for that)."""
        if view.remember is not None:
            self._reads.remember(view.remember, body)

    def status_for_token(self, token: str | None, person_id: str) -> Evaluation:
        """The colour now, for a page showing the code to notice a change within seconds: the
        same read as show_for_token(), and no signature."""
        account = account_hint(token)
        snapshot = self._reads.load_for_session(token_hash(token or ""), account, person_id)
        check_session(account, snapshot.session)
        record = self._shown_record(account, snapshot)
        now = max(self._clock.now(), record.revoked_before)
        return self._colors.evaluate_and_record(record.id, snapshot.facts, record.last_color, now)

    def _shown_record(self, account_id: str, snapshot: PersonSnapshot) -> PersonRecord:
        """The person the snapshot's link shows a code of: linked, live and face-checked."""
        link, record = snapshot.link, snapshot.person
        if link is None or record is None or not live_link(link, record, account_id):
            raise NotFound(Msg.NOT_ON_ACCOUNT)
        require_verified(link)  # 申领 gives a code once the platform's face check has passed
        return record

    def _show(self, account_id: str, snapshot: PersonSnapshot, lang: str) -> HealthCodeView:
        record = self._shown_record(account_id, snapshot)
        link = snapshot.link
        assert link is not None
        # An erasure revokes codes to the end of its second: one issued after a re-application
        # in that second is stamped at the revocation time, or it would scan as `revoked`.
        now = max(self._clock.now(), record.revoked_before)
        evaluation = self._colors.evaluate_and_record(record.id, snapshot.facts, record.last_color, now)
        person = self._directory.view(record, link)
        code = self._issuer.issue(record.id, evaluation.color, now, person.name_masked)
        return HealthCodeView(
            evaluation=evaluation,
            meaning=self._colors.policy.meanings[evaluation.color].get(lang),
            qr=code.qr,
            issued_at=code.issued_at,
            expires_at=code.expires_at,
            person=person,
        )

    @property
    def admits(self) -> bool:
        """Whether scan() can count an Admission in the round trip that records the scan."""
        return self._reads.admits

    def scan(self, qr: str, place: str, admission: Admission | None = None) -> ScanResult:
        """Check signature, expiry and the person's status now; record it in their history.

        One round trip: the scan is written together with the read of the person's facts
        (as the colour the code showed), and amended in the rare case the status changed. An
        expired or revoked code goes into nobody's history, and a code is recorded once per
        place (a screenshot replayed at a gate floods nothing). With an admission (the
        checkpoint's rate limit; only where `admits`) the same round trip first counts the scan
        against it: LimitReached when a window is full, and nothing recorded; a code that never
        gets that far (forged, expired) is not counted (`counted` False: the caller counts it).
        """
        if admission is not None and not self.admits:
            raise ValueError("this store cannot count an admission with the scan")
        now = self._clock.now()
        try:
            read = self._issuer.read(qr)
        except InvalidCode as exc:
            return ScanResult(valid=False, reason=exc.reason, detail=exc.detail or None, checked_at=now)
        claims, person_id = read.claims, read.person_id
        if now >= claims.expires_at:
            known = self._reads.load(person_id).person
            revoked = known is None or known.name_ct is None or claims.issued_at < known.revoked_before
            reason = ScanFailure.REVOKED if revoked else ScanFailure.EXPIRED
            return ScanResult(valid=False, reason=reason, checked_at=now)
        shown = ScanRecord(now, place, claims.color.value)
        snapshot = self._reads.load_and_record_scan(person_id, shown, claims.issued_at, self._colors.retention,
                                                    admission)
        if snapshot.admitted is not None and not all(snapshot.admitted):
            raise LimitReached(snapshot.admitted)
        counted = admission is not None
        record = snapshot.person
        if record is None or record.name_ct is None or claims.issued_at < record.revoked_before:
            return ScanResult(valid=False, reason=ScanFailure.REVOKED, checked_at=now, counted=counted)
        evaluation = self._colors.evaluate_and_record(person_id, snapshot.facts, record.last_color, now)
        if self._counters is not None:
            self._counters.count_scan(now)
        changed = evaluation.color != claims.color
        if changed and snapshot.scan_ref is not None:
            self._history.replace_scan(person_id, snapshot.scan_ref,
                                       ScanRecord(now, place, f"{evaluation.color.value} changed"))
        return ScanResult(
            valid=True,
            color=evaluation.color,
            changed=changed,
            name_masked=claims.name_masked,
            issued_at=claims.issued_at,
            checked_at=now,
            counted=counted,
        )

    def history(self, session: Session, person_id: str) -> History:
        """Colour changes and scans within the retention period.

        Where someone was scanned is personal: read only through a link on which the person's
        identity (face) check passed.
        """
        self._persons.verified(session, person_id)
        since = self._clock.now() - self._colors.retention
        changes, scans = self._history.history(person_id, since)
        return History(retention_days=self.retention_days, changes=changes, scans=scans)

    def reason_text(self, code: str, lang: str) -> str:
        """The user text of a reason code in a history entry."""
        return self._colors.policy.reason_text(code, lang)
