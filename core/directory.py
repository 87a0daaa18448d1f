"""The persons an ID number names: found, created once, their sealed details opened and masked."""
from __future__ import annotations

import secrets
from typing import NamedTuple

from core import name_claims
from core.identity import document_of, mask_id_number, mask_name, mask_phone
from core.model import IdDocument, Link, PersonRecord
from core.ports import Persons, PiiVault


def phone_lookup(vault: PiiVault, e164: str) -> str:
    """A phone's keyed lookup hash (domain-separated from the ID number's)."""
    return vault.lookup_hash("phone:" + e164)


class PersonView(NamedTuple):
    """A person as the account sees it: masked forms only, and which document the number is on.
    A named tuple, made on every read that signs (see CachedAnswer)."""

    id: str
    name_masked: str
    id_number_masked: str
    phone_masked: str
    relation: str
    verified: bool
    document: IdDocument


class PersonDirectory:
    """Finding persons by ID number and opening their sealed details: shared by applying,
    marking and showing codes."""

    def __init__(self, persons: Persons, vault: PiiVault) -> None:
        self.persons = persons
        self.vault = vault

    def find(self, id_number: str) -> str | None:
        """The person id a (normalized) ID number names, if anyone has it yet."""
        return self.persons.find(self.vault.lookup_hash(id_number))

    def find_or_create(self, id_number: str, now: int) -> PersonRecord:
        """The one person a (normalized) ID number names (DESIGN §3), created on first use.

        An authority may mark an ID number before anyone applies for it: the record then waits,
        without a name, for the person's application.
        """
        return self.find_or_create_noting(id_number, now)[0]

    def find_or_create_noting(self, id_number: str, now: int) -> tuple[PersonRecord, bool]:
        """As find_or_create(), and whether this call created the record."""
        id_hash = self.vault.lookup_hash(id_number)
        person_id = self.persons.claim_index(id_hash, secrets.token_hex(12))
        record = self.persons.get(person_id)
        created = record is None
        if record is None:
            self.persons.create(PersonRecord(
                id=person_id, id_number_ct=self.vault.seal(id_number, f"{person_id}:id"),
                created_at=now,
            ))
            record = self.persons.get(person_id)
            assert record is not None
        return record, created

    def id_hash(self, record: PersonRecord) -> str:
        """The keyed hash the record's ID number is indexed by (for removing the index entry)."""
        return self.vault.lookup_hash(self.vault.open(record.id_number_ct, f"{record.id}:id"))

    def phone_hash(self, e164: str) -> str:
        """The keyed hash a phone is found by (the same for the travel card's stays)."""
        return phone_lookup(self.vault, e164)

    def name(self, record: PersonRecord) -> str | None:
        return self.open(record.id, record.name_ct, "name")

    def open(self, person_id: str, blob: bytes | None, field: str) -> str | None:
        return None if blob is None else self.vault.open(blob, f"{person_id}:{field}")

    def seal(self, person_id: str, value: str, field: str) -> bytes:
        return self.vault.seal(value, f"{person_id}:{field}")

    def view(self, record: PersonRecord, link: Link) -> PersonView:
        """Masked forms; before the face check, only what this link's application typed."""
        name = name_claims.shown_name(
            self.name(record), self.open(record.id, link.claimed_name_ct, "name"), link.verified)
        phone = name_claims.shown_phone(
            self.open(record.id, record.phone_ct, "phone"), self.open(record.id, link.claimed_phone_ct, "phone"),
            link.verified)
        id_number = self.vault.open(record.id_number_ct, f"{record.id}:id")
        return PersonView(
            id=record.id,
            name_masked=mask_name(name) if name else "",
            id_number_masked=mask_id_number(id_number),
            phone_masked=mask_phone(phone) if phone else "",
            relation=link.relation,
            verified=link.verified,
            document=document_of(id_number),
        )


