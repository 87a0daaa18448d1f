"""The hot paths' reads on Redis: session, link and facts, or facts and the scan, in one round trip."""
from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.authority import RISK_VERSION
from adapters.store.encoding import parse_facts, parse_link, parse_session, scan_json
from adapters.store.keys import account_key, answers_key, facts_keys, scans_key, session_key
from adapters.store.layout import id_field
from adapters.store.policy import CURRENT as POLICY_CURRENT
from core.model import CachedAnswer, CacheProbe, Globals, PersonSnapshot, Remember, ScanRecord

MAX_SCANS = 500  # per person, newest kept: bounds what a replayed screenshot can cost


class RedisPersonReads:
    """PersonReads: one pipeline of plain commands and one EVALSHA per read."""

    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._facts = scripts.register(client, "facts")
        self._facts_and_scan = scripts.register(client, "facts_and_scan")
        self._facts_cached = scripts.register(client, "facts_cached")
        self._answer_put = scripts.register(client, "answer_put")

    def load(self, person_id: str, account_id: str | None = None) -> PersonSnapshot:
        def build(pipe: Any) -> None:
            if account_id is not None:
                pipe.hget(account_key(account_id), id_field(person_id))
            pipe.evalsha(self._facts.sha, 4, *facts_keys(person_id))

        replies = self._run(build)
        raw_link = replies[0] if account_id is not None else None
        record, facts = parse_facts(person_id, replies[-1])
        return PersonSnapshot(record, facts, link=parse_link(person_id, raw_link) if raw_link else None)

    def load_for_session(self, token_hash: str, account_id: str, person_id: str,
                         probe: CacheProbe | None = None) -> PersonSnapshot:
        if probe is not None:
            return self._load_cached(token_hash, account_id, person_id, probe)

        commands = [("GET", session_key(token_hash)), ("HGET", account_key(account_id), id_field(person_id)),
                    ("EVALSHA", self._facts.sha, 4, *facts_keys(person_id))]
        raw_session, raw_link, raw_facts = scripts.read_round_trip(self._r, commands, (self._facts,))
        record, facts = parse_facts(person_id, raw_facts)
        link = parse_link(person_id, raw_link) if raw_link else None
        return PersonSnapshot(record, facts, link=link, session=parse_session(raw_session))

    def _load_cached(self, token_hash: str, account_id: str, person_id: str, probe: CacheProbe) -> PersonSnapshot:
        # The link lives in the account's slot, so the script cannot see it: the digest the
        # caller gets (and stores with the answer) ends with the link's, compared here.
        commands = [("GET", session_key(token_hash)), ("HGET", account_key(account_id), id_field(person_id)),
                    ("GET", POLICY_CURRENT), ("GET", RISK_VERSION),
                    ("EVALSHA", self._facts_cached.sha, 5, *facts_keys(person_id), answers_key(person_id),
                     probe.now, probe.salt, probe.slot)]
        raw_session, raw_link, raw_policy, raw_risk, reply = scripts.read_round_trip(
            self._r, commands, (self._facts_cached,))
        seen = Globals(raw_policy.decode() if raw_policy else None, int(raw_risk or 0))
        session = parse_session(raw_session)
        digest = reply[0].decode() + ":" + _link_digest(raw_link)
        entry = reply[1]
        if entry:
            cached = _entry(entry, digest)
            if cached is not None:
                link = parse_link(person_id, raw_link) if raw_link else None
                return PersonSnapshot(None, link=link, session=session, cached=cached, digest=digest, globals=seen)
            if len(reply) < 3:  # the answer's facts matched, its link did not: read the facts
                again = self.load_for_session(token_hash, account_id, person_id)
                return replace(again, digest=digest, globals=seen)
        record, facts = parse_facts(person_id, reply[2:])
        link = parse_link(person_id, raw_link) if raw_link else None
        return PersonSnapshot(record, facts, link=link, session=session, digest=digest, globals=seen)

    def remember(self, entry: Remember, body: bytes) -> None:
        header = f"{entry.digest}|{entry.reuse_until:010d}|{entry.issued_at:010d}|{entry.expires_at:010d}|"
        self._answer_put(keys=[answers_key(entry.person_id)],
                         args=[entry.slot, header.encode() + body, entry.reuse_until])

    def load_and_record_scan(self, person_id: str, scan: ScanRecord, issued_at: int, retention: int) -> PersonSnapshot:
        keys = (*facts_keys(person_id), scans_key(person_id))
        args = (scan.at, scan_json(scan, issued_at), retention, issued_at, MAX_SCANS, scan.place)
        (reply,) = self._run(lambda pipe: pipe.evalsha(self._facts_and_scan.sha, 5, *keys, *args))
        record, facts = parse_facts(person_id, reply[:4])
        ref = reply[4] if len(reply) > 4 else None
        return PersonSnapshot(record, facts, scan_ref=ref.decode() if ref else None)

    def _run(self, build: Any) -> list[Any]:
        return scripts.run_pipeline(self._r, build, (self._facts, self._facts_and_scan, self._facts_cached))


def _link_digest(raw_link: bytes | None) -> str:
    return hashlib.sha1(raw_link or b"", usedforsecurity=False).hexdigest()[:16]


def _entry(raw: bytes, digest: str) -> CachedAnswer | None:
    """An entry "facts-digest:link-digest|reuse_until|issued_at|expires_at|body", if its digest
    is this read's (the script compared the facts part; the link part is compared here)."""
    size = len(digest)
    if raw[:size].decode() != digest:
        return None
    issued_at, expires_at = int(raw[size + 12:size + 22]), int(raw[size + 23:size + 33])
    return CachedAnswer(raw[size + 34:], issued_at, expires_at)
