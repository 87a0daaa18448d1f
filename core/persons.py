"""Applying for a health code for self or family, and managing those links (申领 / 代领)."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, replace

from core.clock import Clock
from core.errors import Conflict, Forbidden, InvalidInput, NotFound, VerificationRequired
from core.identity import (
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_name,
    normalize_phone,
)
from core.ports import Link, PersonRecord, PersonStore, PiiVault, PlatformAdapter, Session

RELATIONS = ("self", "family")
VERIFIED = "verified"  # PersonRecord.name_source once a face check passed against the name
CN_TZ = dt.timezone(dt.timedelta(hours=8))


@dataclass(frozen=True)
class PersonView:
    """A person as the account sees it: masked forms only."""

    id: str
    name_masked: str
    id_number_masked: str
    phone_masked: str
    relation: str
    verified: bool


@dataclass(frozen=True)
class Application:
    name: str
    id_number: str
    phone: str
    relation: str


class PersonService:
    def __init__(self, store: PersonStore, vault: PiiVault, clock: Clock, max_family: int = 5) -> None:
        self._store = store
        self._vault = vault
        self._clock = clock
        self._max_family = max_family

    # -- reading -------------------------------------------------------------------------

    def view(self, record: PersonRecord, link: Link) -> PersonView:
        """Masked forms; before the face check, only what this link's application typed."""
        if link.verified:
            name, phone = self._open(record, "name"), self._open(record, "phone")
        else:
            name = self._claimed(record, link.claimed_name_ct, "name") or self._open(record, "name")
            phone = self._claimed(record, link.claimed_phone_ct, "phone")
        return PersonView(
            id=record.id,
            name_masked=mask_name(name) if name else "",
            id_number_masked=mask_id_number(self._vault.open(record.id_number_ct, f"{record.id}:id")),
            phone_masked=mask_phone(phone) if phone else "",
            relation=link.relation,
            verified=link.verified,
        )

    def list(self, session: Session) -> list[PersonView]:
        views = []
        for pid, link in sorted(self._store.links(session.account_id).items(), key=lambda kv: kv[1].linked_at):
            record = self._store.get(pid)
            if live_link(link, record, session.account_id):
                assert record is not None
                views.append(self.view(record, link))
        return views

    def linked(self, session: Session, person_id: str) -> tuple[Link, PersonRecord]:
        """The account's link to a person and the person, or NotFound (same for not yours)."""
        link, record, _ = self._store.load(person_id, session.account_id)
        if link is None or record is None or not live_link(link, record, session.account_id):
            raise NotFound("no such person on this account")
        return link, record

    def verified(self, session: Session, person_id: str) -> tuple[Link, PersonRecord]:
        """As linked(), for what needs the person's face check on this link first."""
        link, record = self.linked(session, person_id)
        require_verified(link)
        return link, record

    # -- applying ------------------------------------------------------------------------

    def apply(self, session: Session, application: Application) -> PersonView:
        """申领 (self) or 代领 (family): validate, find or create the person, link it."""
        now = self._clock.now()
        if application.relation not in RELATIONS:
            raise InvalidInput("invalid relation", {"relation": ["self or family"]})
        errors: dict[str, list[str]] = {}
        values: dict[str, str] = {}
        today = dt.datetime.fromtimestamp(now, CN_TZ).date()
        for field, normalize in (
            ("name", normalize_name),
            ("id_number", lambda raw: normalize_id_number(raw, today)),
            ("phone", normalize_phone),
        ):
            raw = getattr(application, field)
            if not (raw or "").strip():
                errors[field] = ["required"]
                continue
            try:
                values[field] = normalize(raw)
            except InvalidInput as exc:
                errors.update(exc.fields or {})
        if errors:
            raise InvalidInput("invalid application", errors)

        # Stale links first: an erased relative must not come back to life by their new name.
        links = self._prune_stale_links(session.account_id)
        record = find_or_create_person(self._store, self._vault, values["id_number"], now)
        if application.relation == "self" and record.self_account not in (None, session.account_id):
            raise Conflict("this ID number is already another account's own code")
        written, claimed_name = self._settle_name(record, values["name"], application.relation)
        # The first application gives the phone; after that only a face check changes it (the
        # owner's application claims its phone, as it claims a name), or a verified link's
        # update_phone: nobody who merely knows an ID number can redirect a person's phone.
        phone_ct = self._vault.seal(values["phone"], f"{record.id}:phone")
        # An erasure revokes to the end of its second; a re-application in it must not lapse.
        linked_at = max(now, record.revoked_before)
        link = Link(record.id, application.relation, False, linked_at, claimed_name,
                    phone_ct if application.relation == "self" else None)
        try:
            self._link(session, links, link)
        except Conflict:
            if written is not None:  # a refused application leaves the name as it found it
                self._store.set_name(record.id, record.name_ct, record.name_source, expected=written)
            raise
        if record.phone_ct is None:
            self._store.set_pii(record.id, phone_ct=phone_ct)
        return self.view(self._store.get(record.id) or record, link)

    def _settle_name(self, record: PersonRecord, name: str, relation: str) -> tuple[bytes | None, bytes | None]:
        """Check the name against the record, or record it: (ciphertext written, name claimed).

        Once a face check has passed against the record's name, another name is refused. Until
        then the record's name is only the first applicant's word (mistyped or made up, maybe),
        so a different name is claimed on the link, and replaces the record's when the face
        check passes against it: applying first locks nobody out, for self or for family.
        """
        for _ in range(3):  # compare-and-set: a concurrent application may write in between
            stored = self._open(record, "name")
            if stored == name:
                return None, None
            if stored is not None:
                self._check_claim(record, name)  # a face-checked name is final
                return None, self._vault.seal(name, f"{record.id}:name")
            sealed = self._vault.seal(name, f"{record.id}:name")
            if self._store.set_name(record.id, sealed, relation, expected=record.name_ct):
                return sealed, None
            record = self._store.get(record.id) or record
        raise Conflict("the application changed concurrently; try again")

    def _link(self, session: Session, links: dict[str, Link], link: Link) -> None:
        if link.person_id in links:
            raise Conflict("this person is already on this account")
        outcome = self._store.link(session.account_id, link, self._max_family)
        if outcome == "ok":
            return
        if outcome == "self_taken":
            raise Conflict("this account already has its own code")
        if outcome == "family_full":
            raise Conflict(f"at most {self._max_family} family members per account")
        raise Conflict("this person is already on this account")

    def _prune_stale_links(self, account_id: str) -> dict[str, Link]:
        """Drop links to persons erased since they were linked, so they neither block nor count."""
        links = self._store.links(account_id)
        for pid, link in list(links.items()):
            if not live_link(link, self._store.get(pid), account_id):
                self._store.unlink(account_id, pid)
                del links[pid]
        return links

    def update_phone(self, session: Session, person_id: str, phone: str) -> PersonView:
        """Change the phone: the person's own account, or a relative's while the person has none."""
        link, record = self.verified(session, person_id)
        if link.relation != "self" and record.self_account is not None:
            raise Forbidden("only the person's own account can change their phone")
        normalized = normalize_phone(phone)
        self._store.set_pii(person_id, phone_ct=self._vault.seal(normalized, f"{person_id}:phone"))
        return self.view(self._store.get(person_id) or record, link)

    def unlink(self, session: Session, person_id: str) -> None:
        """Remove a person from the account; for the person's verified owner, also erase their data.

        Authority markers and lab results are not the user's to erase: they stay (keyed by
        the ID number's hash), so deleting and re-applying never turns a red code green. An
        unverified `self` link is only removed: erasing needs the face check that makes an
        account the person's owner.
        """
        link, record = self.linked(session, person_id)
        self._store.unlink(session.account_id, person_id)
        if link.relation == "self" and link.verified and record.self_account == session.account_id:
            # Revoked to the end of this second: codes and links are stamped in whole seconds.
            self._store.erase(person_id, self._clock.now() + 1)

    def verify(self, session: Session, person_id: str, platform: PlatformAdapter, ticket: str) -> PersonView:
        """Face check through the platform the account logged in with.

        The name it checks becomes the record's, and final; for `self` the account becomes the
        person's owner (one per person; the others' `self` links lapse) and its phone the
        person's. Each step is conditional on the link still standing, so an erasure while the
        platform answered wins.
        """
        link, record = self.linked(session, person_id)
        # The platform checks the face against this person's name and ID number, not the
        # account holder's: for a family link it is the relative who must be present.
        sealed_name = link.claimed_name_ct or record.name_ct
        assert sealed_name is not None  # a live link's person has a name
        name = self._vault.open(sealed_name, f"{record.id}:name")
        self._check_claim(record, name)  # a claim overtaken by a verified name: not worth a check
        id_number = self._vault.open(record.id_number_ct, f"{record.id}:id")
        if not platform.verify_identity(session.account_id, ticket, name, id_number):
            raise Forbidden("identity verification failed")
        self._set_verified_name(record, sealed_name, name, link.linked_at)
        if link.relation == "self":
            owner = self._store.claim_self(person_id, session.account_id, link.linked_at)
            if owner is None:
                raise NotFound("no such person on this account")
            if owner != session.account_id:
                raise Conflict("this ID number is already another account's own code")
            if link.claimed_phone_ct is not None:
                self._store.set_pii(person_id, phone_ct=link.claimed_phone_ct)
        if not self._store.set_verified(session.account_id, person_id):
            raise NotFound("no such person on this account")
        verified = Link(link.person_id, link.relation, True, link.linked_at)
        fresh = self._store.get(person_id)
        if fresh is None or not live_link(verified, fresh, session.account_id):
            raise NotFound("no such person on this account")  # erased while the platform answered
        return self.view(fresh, verified)

    def _check_claim(self, record: PersonRecord, name: str) -> None:
        if record.name_source == VERIFIED and self._open(record, "name") != name:
            raise InvalidInput("name does not match", {"name": ["does not match the ID number's record"]})

    def _set_verified_name(self, record: PersonRecord, sealed: bytes, name: str, linked_at: int) -> None:
        """The name a face check passed against becomes the record's, and final."""
        for _ in range(3):  # compare-and-set against concurrent applications and erasures
            if record.name_ct is None or linked_at < record.revoked_before:
                raise NotFound("no such person on this account")  # erased meanwhile
            self._check_claim(record, name)
            if record.name_source == VERIFIED:
                return  # already this name, and final
            if self._store.set_name(record.id, sealed, VERIFIED, expected=record.name_ct):
                return
            record = self._store.get(record.id) or replace(record, name_ct=None)
        raise Conflict("the application changed concurrently; try again")

    def _claimed(self, record: PersonRecord, blob: bytes | None, field: str) -> str | None:
        return None if blob is None else self._vault.open(blob, f"{record.id}:{field}")

    def _open(self, record: PersonRecord, field: str) -> str | None:
        blob = record.name_ct if field == "name" else record.phone_ct
        return None if blob is None else self._vault.open(blob, f"{record.id}:{field}")


def find_or_create_person(store: PersonStore, vault: PiiVault, id_number: str, now: int) -> PersonRecord:
    """The one person a (normalized) ID number names (DESIGN §3), created on first use.

    An authority may mark an ID number before anyone applies for it: the record then waits,
    without a name, for the person's application.
    """
    id_hash = vault.lookup_hash(id_number)
    person_id = store.claim_index(id_hash, secrets.token_hex(12))
    record = store.get(person_id)
    if record is None:
        store.create(PersonRecord(
            id=person_id, id_hash=id_hash, id_number_ct=vault.seal(id_number, f"{person_id}:id"), created_at=now,
        ))
        record = store.get(person_id)
        assert record is not None
    return record


def live_link(link: Link, record: PersonRecord | None, account_id: str) -> bool:
    """A link still stands: the person exists, has applied, was not erased after linking, and
    (for `self`) no other account has become the person's verified owner."""
    return (
        record is not None
        and record.name_ct is not None
        and link.linked_at >= record.revoked_before
        and (link.relation != "self" or record.self_account in (None, account_id))
    )


def require_verified(link: Link) -> None:
    """The code, the history, the phone and erasure need the face check on this link."""
    if not link.verified:
        raise VerificationRequired("identity verification (face check) is required first")
