"""Applying for a health code for self or family, and managing those links (申领 / 代领)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from core import name_claims
from core.clock import Clock
from core.directory import PersonDirectory, PersonView
from core.errors import Conflict, Fields, Forbidden, InvalidInput, Message, Msg, NotFound, VerificationRequired
from core.identity import (
    normalize_id_number,
    normalize_name,
    normalize_phone,
)
from core.model import NO_VISITS, Link, LinkOutcome, NameSource, PersonRecord, Relation, Session, Visits
from core.name_claims import AfterCheck, Settle
from core.platforms import IdentityCheck
from core.ports import AccountLinks, PersonDetails, PersonReads, PlatformAdapter

CN_TZ = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class Application:
    name: str
    id_number: str
    phone: str
    relation: str
    consent_notice: str | None = None  # the notice version the applicant agreed to
    # Instead of a typed phone: the platform's phone authorization (WeChat's getPhoneNumber code
    # or encryptedData, Alipay's signed response), read through the account's platform.
    phone_proof: Mapping[str, str] | None = None


class PersonService:
    def __init__(self, directory: PersonDirectory, details: PersonDetails, links: AccountLinks,
                 reads: PersonReads, clock: Clock, max_family: int = 5, notice_version: str | None = None,
                 visits: Callable[[str], Visits] = lambda phone_hash: NO_VISITS) -> None:
        self._directory = directory
        self._persons = directory.persons
        self._details = details
        self._links = links
        self._reads = reads
        self._clock = clock
        self._max_family = max_family
        self._notice_version = notice_version
        self._visits = visits  # the operators' stays of a phone, when it is given

    # -- reading -------------------------------------------------------------------------

    def list(self, session: Session) -> list[PersonView]:
        views = []
        for pid, link in sorted(self._links.links(session.account_id).items(), key=lambda kv: kv[1].linked_at):
            record = self._persons.get(pid)
            if live_link(link, record, session.account_id):
                assert record is not None
                views.append(self._directory.view(record, link))
        return views

    def linked(self, session: Session, person_id: str) -> tuple[Link, PersonRecord]:
        """The account's link to a person and the person, or NotFound (same for not yours)."""
        snapshot = self._reads.load(person_id, session.account_id)
        link, record = snapshot.link, snapshot.person
        if link is None or record is None or not live_link(link, record, session.account_id):
            raise NotFound(Msg.NOT_ON_ACCOUNT)
        return link, record

    def verified(self, session: Session, person_id: str) -> tuple[Link, PersonRecord]:
        """As linked(), for what needs the person's face check on this link first."""
        link, record = self.linked(session, person_id)
        require_verified(link)
        return link, record

    # -- applying ------------------------------------------------------------------------

    def apply(self, session: Session, application: Application, platform: PlatformAdapter | None = None) -> PersonView:
        """申领 (self) or 代领 (family): validate, find or create the person, link it. A phone
        proof is read through `platform`, the one the account logged in with."""
        if application.phone_proof is not None:
            if platform is None:
                raise InvalidInput(Msg.PHONE_PROOF_INVALID, {"phone_proof": [Msg.PHONE_PROOF_INVALID]})
            application = replace(application, phone=platform.phone_number(session.account_id,
                                                                           application.phone_proof))
        now = self._clock.now()
        relation, values = _validated(application, dt.datetime.fromtimestamp(now, CN_TZ).date())
        if self._notice_version is not None and application.consent_notice != self._notice_version:
            # Applying needs the current notice read and agreed to (the box ticked).
            raise InvalidInput(Msg.CONSENT_REQUIRED, {"consent_notice": [Msg.CONSENT_CURRENT]})
        # Stale links first: an erased relative must not come back to life by their new name.
        links = self._prune_stale_links(session.account_id)
        # What the account's links alone refuse is refused before anything is written.
        self._check_room(links, relation, self._directory.find(values["id_number"]))
        record, created = self._directory.find_or_create_noting(values["id_number"], now)
        if relation == Relation.SELF and record.self_account not in (None, session.account_id):
            raise Conflict(Msg.ID_IS_OTHERS_SELF)
        written, claimed_name = self._settle_name(record, values["name"], relation)
        # The first application gives the phone; after that only a face check changes it (the
        # owner's application claims its phone, as it claims a name), or a verified link's
        # update_phone: nobody who merely knows an ID number can redirect a person's phone.
        phone_ct = self._directory.seal(record.id, values["phone"], "phone")
        # An erasure revokes to the end of its second; a re-application in it must not lapse.
        linked_at = max(now, record.revoked_before)
        link = Link(record.id, relation, False, linked_at, claimed_name,
                    phone_ct if relation == Relation.SELF else None, application.consent_notice)
        # The person notes the account first: a crash in between leaves one account too many
        # on the person (kept a little longer), never one too few (removed while linked).
        self._details.add_account(record.id, session.account_id)
        try:
            self._link(session, links, link)
        except Conflict:  # a concurrent application on this account won the race
            if written is not None:  # a refused application leaves the name as it found it
                self._details.set_name(record.id, record.name_ct, record.name_source, expected=written)
            if self._details.drop_account(record.id, session.account_id) == 0 and created:
                self._persons.discard(record.id, self._directory.id_hash(record))  # nothing left behind
            raise
        if record.phone_ct is None:
            self._set_phone(record.id, phone_ct, values["phone"])
        return self._directory.view(self._persons.get(record.id) or record, link)

    def _settle_name(self, record: PersonRecord, name: str, relation: Relation) -> tuple[bytes | None, bytes | None]:
        """Check the name against the record, or record it: (ciphertext written, name claimed)."""
        for _ in range(3):  # compare-and-set: a concurrent application may write in between
            step = name_claims.settle(self._directory.name(record), record.name_source, name)
            if step is Settle.SAME:
                return None, None
            sealed = self._directory.seal(record.id, name, "name")
            if step is Settle.CLAIM:
                return None, sealed
            if self._details.set_name(record.id, sealed, NameSource(relation.value), expected=record.name_ct):
                return sealed, None
            record = self._persons.get(record.id) or record
        raise Conflict(Msg.CONCURRENT_CHANGE)

    def _check_room(self, links: dict[str, Link], relation: Relation, person_id: str | None) -> None:
        """The refusals the account's own links decide (the link script decides them again)."""
        if person_id is not None and person_id in links:
            raise Conflict(Msg.ALREADY_LINKED)
        if relation == Relation.SELF and any(link.relation == Relation.SELF for link in links.values()):
            raise Conflict(Msg.SELF_TAKEN)
        family = sum(link.relation == Relation.FAMILY for link in links.values())
        if relation == Relation.FAMILY and family >= self._max_family:
            raise Conflict(Message(Msg.FAMILY_FULL, max=self._max_family))

    def _link(self, session: Session, links: dict[str, Link], link: Link) -> None:
        if link.person_id in links:
            raise Conflict(Msg.ALREADY_LINKED)
        outcome = self._links.link(session.account_id, link, self._max_family)
        if outcome == LinkOutcome.OK:
            return
        if outcome == LinkOutcome.SELF_TAKEN:
            raise Conflict(Msg.SELF_TAKEN)
        if outcome == LinkOutcome.FAMILY_FULL:
            raise Conflict(Message(Msg.FAMILY_FULL, max=self._max_family))
        raise Conflict(Msg.ALREADY_LINKED)

    def _prune_stale_links(self, account_id: str) -> dict[str, Link]:
        """Drop links to persons erased since they were linked, so they neither block nor count."""
        links = self._links.links(account_id)
        for pid, link in list(links.items()):
            record = self._persons.get(pid)
            if not live_link(link, record, account_id):
                self._links.unlink(account_id, pid)
                if record is not None:
                    self._release(record, account_id, erase=False)
                del links[pid]
        return links

    def _release(self, record: PersonRecord, account_id: str, erase: bool) -> None:
        """The account no longer links to the person. Once nobody does, or when the owner leaves,
        the person's own data goes (DESIGN §3); without authority facts, the record goes too."""
        remaining = self._details.drop_account(record.id, account_id)
        if erase or remaining == 0:
            # Revoked to the end of this second: codes and links are stamped in whole seconds.
            id_hash = self._directory.id_hash(record)  # while the number is there to hash
            self._persons.erase(record.id, self._clock.now() + 1)
            self._persons.discard(record.id, id_hash)

    def update_phone(self, session: Session, person_id: str, phone: str) -> PersonView:
        """Change the phone: the person's own account, or a relative's while the person has none."""
        link, record = self.verified(session, person_id)
        if link.relation != Relation.SELF and record.self_account is not None:
            raise Forbidden(Msg.OWNER_ONLY_PHONE)
        normalized = normalize_phone(phone)
        self._set_phone(person_id, self._directory.seal(person_id, normalized, "phone"), normalized)
        return self._directory.view(self._persons.get(person_id) or record, link)

    def _set_phone(self, person_id: str, phone_ct: bytes, e164: str) -> None:
        phone_hash = self._directory.phone_hash(e164)
        self._details.set_phone(person_id, phone_ct, phone_hash, self._visits(phone_hash))

    def unlink(self, session: Session, person_id: str) -> None:
        """Remove a person from the account; for the person's verified owner, also erase their data.

        Authority markers and lab results are not the user's to erase: they stay (keyed by
        the ID number's hash), so deleting and re-applying never turns a red code green. An
        unverified `self` link is only removed: erasing needs the face check that makes an
        account the person's owner.
        """
        link, record = self.linked(session, person_id)
        self._links.unlink(session.account_id, person_id)
        owner = link.relation == Relation.SELF and link.verified and record.self_account == session.account_id
        self._release(record, session.account_id, erase=owner)

    def begin_verification(self, session: Session, person_id: str, platform: PlatformAdapter) -> IdentityCheck:
        """Ask the platform to prepare its face check of this person (the link's name, or the
        name it claims, and the ID number); the mini-program then runs it with the ticket."""
        link, record = self.linked(session, person_id)
        _, name, id_number = self._identity_to_check(link, record)
        return platform.begin_identity_check(session.account_id, name, id_number)

    def _identity_to_check(self, link: Link, record: PersonRecord) -> tuple[bytes, str, str]:
        """(sealed name, name, ID number) the platform's face check is of: the person's, not
        the account holder's (for a family link it is the relative who must be present), by the
        name this link claims if it claims one."""
        sealed_name = link.claimed_name_ct or record.name_ct
        assert sealed_name is not None  # a live link's person has a name
        name = self._directory.vault.open(sealed_name, f"{record.id}:name")
        # A claim overtaken by a verified name: not worth asking the platform.
        name_claims.refuse_if_final(self._directory.name(record), record.name_source, name)
        return sealed_name, name, self._directory.vault.open(record.id_number_ct, f"{record.id}:id")

    def forget_account(self, account_id: str) -> int:
        """The platform says the user withdrew this account: unlink every person from it (an
        owner's own data goes with it, as when they delete it); how many were linked."""
        links = self._links.links(account_id)
        for pid, link in links.items():
            record = self._persons.get(pid)
            self._links.unlink(account_id, pid)
            if record is not None:
                owner = link.relation == Relation.SELF and link.verified and record.self_account == account_id
                self._release(record, account_id, erase=owner)
        return len(links)

    def verify(self, session: Session, person_id: str, platform: PlatformAdapter, ticket: str) -> PersonView:
        """Face check through the platform the account logged in with.

        The name it checks becomes the record's, and final; for `self` the account becomes the
        person's owner (one per person; the others' `self` links lapse) and its phone the
        person's. Each step is conditional on the link still standing, so an erasure while the
        platform answered wins.
        """
        link, record = self.linked(session, person_id)
        sealed_name, name, id_number = self._identity_to_check(link, record)
        if not platform.verify_identity(session.account_id, ticket, name, id_number):
            raise Forbidden(Msg.IDENTITY_FAILED)
        self._set_verified_name(record, sealed_name, name, link.linked_at)
        if link.relation == Relation.SELF:
            owner = self._details.claim_self(person_id, session.account_id, link.linked_at)
            if owner is None:
                raise NotFound(Msg.NOT_ON_ACCOUNT)
            if owner != session.account_id:
                raise Conflict(Msg.ID_IS_OTHERS_SELF)
            claimed = self._directory.open(person_id, link.claimed_phone_ct, "phone")
            if link.claimed_phone_ct is not None and claimed is not None:
                self._set_phone(person_id, link.claimed_phone_ct, claimed)
        if not self._links.set_verified(session.account_id, person_id):
            raise NotFound(Msg.NOT_ON_ACCOUNT)
        verified = Link(link.person_id, link.relation, True, link.linked_at, consent_notice=link.consent_notice)
        fresh = self._persons.get(person_id)
        if fresh is None or not live_link(verified, fresh, session.account_id):
            raise NotFound(Msg.NOT_ON_ACCOUNT)  # erased while the platform answered
        return self._directory.view(fresh, verified)

    def _set_verified_name(self, record: PersonRecord, sealed: bytes, name: str, linked_at: int) -> None:
        """The name a face check passed against becomes the record's, and final."""
        for _ in range(3):  # compare-and-set against concurrent applications and erasures
            erased = linked_at < record.revoked_before
            step = name_claims.after_face_check(self._directory.name(record), record.name_source, erased, name)
            if step is AfterCheck.ERASED:
                raise NotFound(Msg.NOT_ON_ACCOUNT)  # erased meanwhile
            if step is AfterCheck.FINAL:
                return
            if self._details.set_name(record.id, sealed, NameSource.VERIFIED, expected=record.name_ct):
                return
            record = self._persons.get(record.id) or replace(record, name_ct=None)
        raise Conflict(Msg.CONCURRENT_CHANGE)


def _validated(application: Application, today: dt.date) -> tuple[Relation, dict[str, str]]:
    """The application's relation and normalized fields; every field's error at once."""
    try:
        relation = Relation(application.relation)
    except ValueError:
        raise InvalidInput(Msg.INVALID_RELATION, {"relation": [Msg.SELF_OR_FAMILY]}) from None
    errors: Fields = {}
    values: dict[str, str] = {}
    for field, normalize in (
        ("name", normalize_name),
        ("id_number", lambda raw: normalize_id_number(raw, today)),
        ("phone", normalize_phone),
    ):
        raw = getattr(application, field)
        if not (raw or "").strip():
            errors[field] = [Msg.REQUIRED]
            continue
        try:
            values[field] = normalize(raw)
        except InvalidInput as exc:
            errors.update(exc.fields or {})
    if errors:
        raise InvalidInput(Msg.INVALID_APPLICATION, errors)
    return relation, values


def live_link(link: Link, record: PersonRecord | None, account_id: str) -> bool:
    """A link still stands: the person exists, has applied, was not erased after linking, and
    (for `self`) no other account has become the person's verified owner."""
    return (
        record is not None
        and record.name_ct is not None
        and link.linked_at >= record.revoked_before
        and (link.relation != Relation.SELF or record.self_account in (None, account_id))
    )


def require_verified(link: Link) -> None:
    """The code, the history, the phone and erasure need the face check on this link."""
    if not link.verified:
        raise VerificationRequired(Msg.VERIFICATION_REQUIRED)
