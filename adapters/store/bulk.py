"""Applied, face-checked persons written in pipelines, for benchmarks at a million persons.

What `PersonService.apply` and `.verify` leave in the store for a `self` application on the dev
platform — the ID-number index entry, the person hash (ciphertexts, owner, accounts, phone),
the phone index entry and the account's verified link — written with the store's own encodings
(raw ids, `link_value`, the layout's buckets, the phone index's script), four commands a person
and many persons a round trip, instead of about ten round trips each: the person hash in one
HSET where applying writes it field by field through its scripts (for a new person with a new
account the result is the same). The values differ from the services' only where those draw
randomness (person ids, AES-GCM nonces). `tests/integration/test_bulk.py` compares a bulk person
with one made through the API, field by field.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.encoding import NAME_SOURCE_CODES, link_value
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
        self._phone_index = scripts.register(client, "phone_index")

    def load(self, persons: Sequence[BulkPerson], max_family: int = 5) -> None:
        """Write them all; refuses (ValueError) when an ID number was someone's already."""
        def build(pipe: Any) -> None:
            for p in persons:
                index_key, index_field = self._layout.id_entry(p.id_hash)
                phone_key, phone_field = self._layout.phone_entry(p.phone_hash)
                pid, account = raw_id(p.person_id), raw_id(p.account_id)
                link = Link(p.person_id, Relation.SELF, True, p.created_at, consent_notice=p.notice)
                pipe.hsetnx(index_key, index_field, pid)
                pipe.hset(person_key(p.person_id), mapping={
                    "i": p.id_number_ct, "t": p.created_at, "n": p.name_ct,
                    "ns": NAME_SOURCE_CODES[NameSource.VERIFIED], "a": account, "p": p.phone_ct,
                    "ph": bytes.fromhex(p.phone_hash), "o": account,
                    "g": time.time_ns() // 1000})  # a fresh generation, as lua/generation.lua starts one
                pipe.evalsha(self._phone_index.sha, 1, phone_key, phone_field, "add", pid)
                pipe.hset(account_key(p.account_id), pid, link_value(link))

        # Not run_pipeline: its retry after a lost script would send the plain writes twice.
        self._r.script_load(self._phone_index.script)
        if scripts.is_cluster(self._r):  # redis-py's cluster pipeline refuses EVALSHA
            replies = scripts.cluster_batch(self._r, build, (self._phone_index,))
        else:
            pipe = self._r.pipeline(transaction=False)
            build(pipe)
            replies = pipe.execute()
        for n, _ in enumerate(persons):
            if replies[4 * n] != 1:  # written anyway: a benchmark's store, not a real one
                raise ValueError(f"the ID number of person {n} of the batch was someone's already")
