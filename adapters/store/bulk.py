"""Applied, face-checked persons written in pipelines, for benchmarks at a million persons.

What `PersonService.apply` and `.verify` leave in the store for a `self` application on the dev
platform — the ID-number index entry, the person hash (ciphertexts, owner, accounts, phone),
the phone index entry and the account's verified link — written by the store's own scripts and
encodings (the same Lua files, `link_value`, the layout's buckets), many persons a round trip
instead of about ten round trips each. The values differ from the services' only where those
draw randomness (person ids, AES-GCM nonces). `tests/integration/test_bulk.py` compares a bulk
person with one made through the API, field by field.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.encoding import RELATION_CODES, link_value
from adapters.store.keys import account_key, person_key
from adapters.store.layout import IndexLayout, raw_id
from core.model import Link, NameSource, Relation


@dataclass(frozen=True)
class BulkPerson:
    person_id: str
    id_hash: str
    id_number_ct: bytes
    name_ct: bytes
    phone_ct: bytes
    phone_hash: str
    account_id: str
    created_at: int
    notice: str


class BulkPersons:
    def __init__(self, client: redis.Redis, layout: IndexLayout) -> None:
        self._r, self._layout = client, layout
        names = ("claim_index", "create", "set_name", "add_account", "claim_self", "phone_index", "link")
        self._scripts = {name: scripts.register(client, name) for name in names}

    def load(self, persons: Sequence[BulkPerson], max_family: int = 5) -> None:
        """Write them all; refuses (ValueError) when an ID number was someone's already."""
        sha = {name: script.sha for name, script in self._scripts.items()}

        def build(pipe: Any) -> None:
            for p in persons:
                index_key, index_field = self._layout.id_entry(p.id_hash)
                phone_key, phone_field = self._layout.phone_entry(p.phone_hash)
                person, pid, account = person_key(p.person_id), raw_id(p.person_id), raw_id(p.account_id)
                link = Link(p.person_id, Relation.SELF, True, p.created_at, consent_notice=p.notice)
                pipe.evalsha(sha["claim_index"], 1, index_key, index_field, pid)
                pipe.evalsha(sha["create"], 1, person, "h", bytes.fromhex(p.id_hash), "i", p.id_number_ct,
                             "t", p.created_at)
                pipe.evalsha(sha["set_name"], 1, person, b"", p.name_ct, NameSource.VERIFIED.value)
                pipe.hset(person, mapping={"p": p.phone_ct, "ph": bytes.fromhex(p.phone_hash)})
                pipe.evalsha(sha["phone_index"], 1, phone_key, phone_field, "add", pid)
                pipe.evalsha(sha["add_account"], 1, person, account)
                pipe.evalsha(sha["claim_self"], 1, person, account, p.created_at)
                pipe.evalsha(sha["link"], 1, account_key(p.account_id), pid, RELATION_CODES[Relation.SELF],
                             link_value(link), max_family)

        replies = scripts.run_pipeline(self._r, build, tuple(self._scripts.values()))
        for n, p in enumerate(persons):
            if replies[8 * n] != raw_id(p.person_id):
                raise ValueError(f"the ID number of person {n} of the batch was someone's already")
