"""The hot paths' reads on Redis: session, link and facts, or facts and the scan, in one round trip."""
from __future__ import annotations

from typing import Any

import redis

from adapters.store import scripts
from adapters.store.encoding import parse_facts, parse_link, parse_session, scan_json
from adapters.store.keys import account_key, facts_keys, scans_key, session_key
from core.model import PersonSnapshot, ScanRecord

MAX_SCANS = 500  # per person, newest kept: bounds what a replayed screenshot can cost


class RedisPersonReads:
    """PersonReads: one pipeline of plain commands and one EVALSHA per read."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._facts = scripts.register(client, "facts")
        self._facts_and_scan = scripts.register(client, "facts_and_scan")

    def load(self, person_id: str, account_id: str | None = None) -> PersonSnapshot:
        def build(pipe: Any) -> None:
            if account_id is not None:
                pipe.hget(account_key(account_id), person_id)
            pipe.evalsha(self._facts.sha, 4, *facts_keys(person_id))

        replies = self._run(build)
        raw_link = replies[0] if account_id is not None else None
        record, facts = parse_facts(person_id, replies[-1])
        return PersonSnapshot(record, facts, link=parse_link(person_id, raw_link) if raw_link else None)

    def load_for_session(self, token_hash: str, account_id: str, person_id: str) -> PersonSnapshot:
        def build(pipe: Any) -> None:
            pipe.get(session_key(token_hash))
            pipe.hget(account_key(account_id), person_id)
            pipe.evalsha(self._facts.sha, 4, *facts_keys(person_id))

        raw_session, raw_link, raw_facts = self._run(build)
        record, facts = parse_facts(person_id, raw_facts)
        link = parse_link(person_id, raw_link) if raw_link else None
        return PersonSnapshot(record, facts, link=link, session=parse_session(raw_session))

    def load_and_record_scan(self, person_id: str, scan: ScanRecord, issued_at: int, retention: int) -> PersonSnapshot:
        keys = (*facts_keys(person_id), scans_key(person_id))
        args = (scan.at, scan_json(scan, issued_at), retention, issued_at, MAX_SCANS, scan.place)
        (reply,) = self._run(lambda pipe: pipe.evalsha(self._facts_and_scan.sha, 5, *keys, *args))
        record, facts = parse_facts(person_id, reply[:4])
        ref = reply[4] if len(reply) > 4 else None
        return PersonSnapshot(record, facts, scan_ref=ref.decode() if ref else None)

    def _run(self, build: Any) -> list[Any]:
        return scripts.run_pipeline(self._r, build, (self._facts, self._facts_and_scan))
