"""Redis repositories of persons (records, names, phones, owners) and of account links."""
from __future__ import annotations

import redis

from adapters.store import scripts
from adapters.store.encoding import NAME_SOURCE_CODES, RELATION_CODES, link_value, parse_link, parse_record
from adapters.store.keys import (
    account_key,
    answers_key,
    changes_key,
    labs_key,
    markers_key,
    person_key,
    scans_key,
    visits_key,
)
from adapters.store.layout import IndexLayout, id_field, raw_id
from core.model import Link, LinkOutcome, NameSource, PersonRecord, Visits


class RedisPersons:
    """Persons and PersonDetails: one hash per person; the ID-number and phone indexes in bucket
    hashes (adapters/store/layout.py). Ids and hashes are kept as raw bytes, not hex: half the size,
    which keeps a person hash within a smaller allocation."""

    def __init__(self, client: redis.Redis, layout: IndexLayout | None = None) -> None:
        self._r = client
        self._layout = layout or IndexLayout(client)
        self._claim_index = scripts.register(client, "claim_index")
        self._create = scripts.register(client, "create")
        self._erase = scripts.register(client, "erase")
        self._set_name = scripts.register(client, "set_name")
        self._claim_self = scripts.register(client, "claim_self")
        self._add_account = scripts.register(client, "add_account")
        self._drop_account = scripts.register(client, "drop_account")
        self._discard = scripts.register(client, "discard")
        self._discard_index = scripts.register(client, "discard_index")
        self._visits = scripts.register(client, "visits_add")
        self._set_phone = scripts.register(client, "phone_set")
        self._index_phone = scripts.register(client, "phone_index")

    def find(self, id_hash: str) -> str | None:
        found = self._r.hget(*self._layout.id_entry(id_hash))
        return found.hex() if isinstance(found, bytes) else None

    def claim_index(self, id_hash: str, person_id: str) -> str:
        key, field = self._layout.id_entry(id_hash)
        claimed: bytes = self._claim_index(keys=[key], args=[field, raw_id(person_id)])
        return claimed.hex()

    def create(self, record: PersonRecord) -> None:
        fields: list[str | bytes | int] = ["i", record.id_number_ct, "t", record.created_at]
        self._create(keys=[person_key(record.id)], args=fields)

    def get(self, person_id: str) -> PersonRecord | None:
        return parse_record(person_id, self._r.hgetall(person_key(person_id)))  # type: ignore[arg-type]

    def _keys(self, person_id: str) -> list[str]:
        return [person_key(person_id), markers_key(person_id), labs_key(person_id), changes_key(person_id),
                scans_key(person_id), visits_key(person_id), answers_key(person_id)]

    def erase(self, person_id: str, now: int) -> bool:
        phone_hash = self._r.hget(person_key(person_id), "ph")
        kept = bool(self._erase(keys=self._keys(person_id), args=[now]))
        if isinstance(phone_hash, bytes):  # its own slot: a step of its own
            self._phone_index(phone_hash.hex(), "remove", person_id)
        return kept

    def discard(self, person_id: str, id_hash: str) -> bool:
        phone_hash = self._r.hget(person_key(person_id), "ph")
        if not self._discard(keys=self._keys(person_id)):
            return False
        if isinstance(phone_hash, bytes):
            self._phone_index(phone_hash.hex(), "remove", person_id)
        # Another slot than the record's (Redis Cluster): its own step, after the record went.
        key, field = self._layout.id_entry(id_hash)
        self._discard_index(keys=[key], args=[field, raw_id(person_id)])
        return True

    def add_account(self, person_id: str, account_id: str) -> None:
        self._add_account(keys=[person_key(person_id)], args=[raw_id(account_id)])

    def drop_account(self, person_id: str, account_id: str) -> int:
        remaining: int = self._drop_account(keys=[person_key(person_id)], args=[raw_id(account_id)])
        return remaining

    def set_name(self, person_id: str, name_ct: bytes | None, source: NameSource | None,
                 expected: bytes | None) -> bool:
        args: list[bytes | str] = [expected or b"", name_ct or b"", NAME_SOURCE_CODES[source] if source else ""]
        return bool(self._set_name(keys=[person_key(person_id)], args=args))

    def _phone_index(self, phone_hash: str, op: str, person_id: str) -> None:
        key, field = self._layout.phone_entry(phone_hash)
        self._index_phone(keys=[key], args=[field, op, raw_id(person_id)])

    def set_phone(self, person_id: str, phone_ct: bytes, phone_hash: str, visits: Visits) -> None:
        old = self._r.hget(person_key(person_id), "ph")
        # The index first: a stay arriving between the steps still reaches the person.
        self._phone_index(phone_hash, "add", person_id)
        self._set_phone(keys=[person_key(person_id)], args=[phone_ct, bytes.fromhex(phone_hash)])
        changed = isinstance(old, bytes) and old.hex() != phone_hash
        # Another phone's visits are not this one's; the same phone's are merged (latest end).
        args: list[str | int] = [visits.as_of - visits.window, visits.window, 1 if changed else 0]
        for city, end in visits.cities.items():
            args += [city, end]
        self._visits(keys=[visits_key(person_id), person_key(person_id)], args=args)
        if changed:
            assert isinstance(old, bytes)
            self._phone_index(old.hex(), "remove", person_id)

    def claim_self(self, person_id: str, account_id: str, linked_at: int) -> str | None:
        owner: bytes = self._claim_self(keys=[person_key(person_id)], args=[raw_id(account_id), linked_at])
        return owner.hex() or None


class RedisAccountLinks:
    """AccountLinks: one hash per account, person id -> encoded link."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._link = scripts.register(client, "link")
        self._set_verified = scripts.register(client, "set_verified")

    def links(self, account_id: str) -> dict[str, Link]:
        raw: dict[bytes, bytes] = self._r.hgetall(account_key(account_id))  # type: ignore[assignment]
        return {pid.hex(): parse_link(pid.hex(), value) for pid, value in raw.items()}

    def link(self, account_id: str, link: Link, max_family: int) -> LinkOutcome:
        args: list[str | bytes | int] = [raw_id(link.person_id), RELATION_CODES[link.relation], link_value(link),
                                         max_family]
        outcome: bytes = self._link(keys=[account_key(account_id)], args=args)
        return LinkOutcome(outcome.decode())

    def unlink(self, account_id: str, person_id: str) -> None:
        self._r.hdel(account_key(account_id), id_field(person_id))

    def set_verified(self, account_id: str, person_id: str) -> bool:
        return bool(self._set_verified(keys=[account_key(account_id)], args=[id_field(person_id)]))
