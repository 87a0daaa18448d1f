"""Ports: the small interfaces the core needs from the outside world, implemented in adapters/."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.facts import Facts, LabResult, Marker
from core.identity import PlatformIdentity


@dataclass(frozen=True)
class PersonRecord:
    """A person as stored: PII only as ciphertext, looked up by a keyed hash of the ID number."""

    id: str
    id_hash: str
    id_number_ct: bytes
    name_ct: bytes | None = None
    phone_ct: bytes | None = None
    self_account: str | None = None
    last_color: str | None = None
    revoked_before: int = 0
    created_at: int = 0
    # "self" or "family": whose application gave the name; "verified": a face check passed on it
    name_source: str | None = None


@dataclass(frozen=True)
class Link:
    """An account's link to a person: `self` or `family`, and whether the face check passed."""

    person_id: str
    relation: str
    verified: bool
    linked_at: int
    # An application whose name differs from the record's unverified one: sealed on the link
    # until the face check passes against it, then it becomes the person's name. A `self`
    # application's phone likewise, as the phone the person's owner gives.
    claimed_name_ct: bytes | None = None
    claimed_phone_ct: bytes | None = None


@dataclass(frozen=True)
class ColorChange:
    at: int
    from_color: str | None
    to_color: str
    reason_codes: tuple[str, ...]


@dataclass(frozen=True)
class ScanRecord:
    at: int
    place: str
    result: str


@dataclass(frozen=True)
class Session:
    account_id: str
    platform: str


@dataclass(frozen=True)
class Credential:
    """A staff credential (authority, checkpoint): who holds it and for which role."""

    id: str
    role: str
    name: str
    created_at: int


class PlatformAdapter(Protocol):
    """One superapp's login and identity check, in core terms."""

    name: str

    def login(self, code: str) -> PlatformIdentity: ...

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """The platform's face check (人脸核身) of the person with this name and ID number."""
        ...


class PiiVault(Protocol):
    """Keyed lookup hashes and authenticated encryption of personal data."""

    def lookup_hash(self, value: str) -> str: ...

    def seal(self, value: str, context: str) -> bytes: ...

    def open(self, blob: bytes, context: str) -> str: ...


class TokenStore(Protocol):
    """Opaque bearer tokens, kept only as hashes, with a lifetime."""

    def save_session(self, token_hash: str, session: Session, ttl: int) -> None: ...

    def session(self, token_hash: str) -> Session | None: ...

    def delete_session(self, token_hash: str) -> None: ...

    def save_credential(self, token_hash: str, credential: Credential) -> None: ...

    def credential(self, token_hash: str) -> Credential | None: ...

    def credentials(self) -> list[Credential]: ...

    def revoke_credential(self, credential_id: str) -> bool: ...


class PersonStore(Protocol):
    """Persons, their links to accounts, their facts and history."""

    def claim_index(self, id_hash: str, person_id: str) -> str: ...

    def create(self, record: PersonRecord) -> None: ...

    def get(self, person_id: str) -> PersonRecord | None: ...

    def set_pii(self, person_id: str, name_ct: bytes | None = None, phone_ct: bytes | None = None) -> None: ...

    def set_name(self, person_id: str, name_ct: bytes | None, source: str | None, expected: bytes | None) -> bool:
        """Compare-and-set the name ciphertext; None deletes it. False if it was not `expected`."""
        ...

    def claim_self(self, person_id: str, account_id: str, linked_at: int) -> str | None:
        """Make the account the person's verified owner unless another is; returns the owner,
        or None when the person was erased after `linked_at` (the link is stale)."""
        ...

    def erase(self, person_id: str, now: int) -> bool: ...

    def links(self, account_id: str) -> dict[str, Link]: ...

    def link(self, account_id: str, link: Link, max_family: int) -> str: ...

    def unlink(self, account_id: str, person_id: str) -> None: ...

    def set_verified(self, account_id: str, person_id: str) -> bool:
        """Mark the link verified and drop its claims; False when the link is gone."""
        ...

    def load(self, person_id: str, account_id: str | None = None) -> tuple[Link | None, PersonRecord | None, Facts]: ...

    def load_for_session(
        self, token_hash: str, account_id: str, person_id: str
    ) -> tuple[Session | None, Link | None, PersonRecord | None, Facts]: ...

    def load_and_record_scan(
        self, person_id: str, scan: ScanRecord, issued_at: int, retention: int
    ) -> tuple[PersonRecord | None, Facts, str | None]: ...

    def replace_scan(self, person_id: str, ref: str, scan: ScanRecord) -> None: ...

    def add_marker(self, marker: Marker) -> None: ...

    def remove_marker(self, person_id: str, marker_id: str) -> Marker | None: ...

    def add_lab_result(self, person_id: str, result: LabResult) -> None: ...

    def record_change(self, person_id: str, expected_last: str | None, change: ColorChange, retention: int) -> bool: ...

    def history(self, person_id: str, since: int) -> tuple[list[ColorChange], list[ScanRecord]]: ...
