"""The hot paths' reads on Redis: session, link and facts, or facts and the scan, in one round trip."""
from __future__ import annotations

import hashlib
import math
import time
from functools import cache, lru_cache
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.authority import RISK_VERSION
from adapters.store.encoding import pairs, parse_facts, parse_link, parse_session, scan_json, session_account
from adapters.store.keys import (
    account_key,
    answers_key,
    facts_keys,
    person_key,
    scans_key,
    session_key,
    visits_key,
)
from adapters.store.layout import id_field
from adapters.store.near import NearCache
from adapters.store.policy import CURRENT as POLICY_CURRENT
from core.code_cache import Until
from core.model import Admission, CachedAnswer, CacheProbe, Globals, KeptRead, PersonSnapshot, Remember, ScanRecord

MAX_SCANS = 500  # per person, newest kept: bounds what a replayed screenshot can cost


class RedisPersonReads:
    """PersonReads: one round trip of plain commands per read (the facts in MULTI/EXEC: one
    consistent state of the person's keys, one hash tag), or one EVALSHA for the scan. A read
    that expects to reuse an answer (this process stored or found it) sends a leaner one first:
    session, link, versions and the answer, no facts (load_answer); a second round
    trip only when the answer turned out stale.

    Plain commands rather than a Lua script for the reads: measured on Redis 7, a script
    returning the same four replies costs the server ~17 us a call (the replies converted into
    Lua and back), MULTI with HGETALL x2, ZRANGE x2 and EXEC ~5 us; the server is a shared core
    on the hot paths (docs/BENCHMARKS.md)."""

    def __init__(self, client: redis.Redis, near_cache: bool = False) -> None:
        self._r = client
        self._versions_at_once = not scripts.is_cluster(client)
        # The refresh's reads kept per thread, exact by client tracking (adapters/store/near.py):
        # one connection per thread, so off a cluster only.
        self.near: NearCache | None = None
        if near_cache and self._versions_at_once:
            self.near = NearCache(client)
            self.near.globals = frozenset({POLICY_CURRENT.encode(), RISK_VERSION.encode()})
        # One MGET of the two versions: their keys are in other slots only on a cluster.
        self._versions: list[tuple[str, ...]] = (
            [("MGET", POLICY_CURRENT, RISK_VERSION)] if self._versions_at_once
            else [("GET", POLICY_CURRENT), ("GET", RISK_VERSION)])
        # (person, slot) -> until when an answer this process stored or found is reusable: a
        # hint, no more, that the lean round trip (load_answer) will likely find it.
        self._kept = Until()
        self._facts_and_scan = scripts.register(client, "facts_and_scan")
        self._answer_put = scripts.source("answer_put")
        # An admission's counters live in other slots than the person's: one script only off a
        # cluster, and only with `limits`' own counting script to embed.
        self.admits = not scripts.is_cluster(client) and sliding_window_text() is not None
        self._admit_and_scan = client.register_script(admit_and_scan_script()) if self.admits else None

    def load(self, person_id: str, account_id: str | None = None) -> PersonSnapshot:
        head = [("HGET", account_key(account_id), id_field(person_id))] if account_id is not None else []
        replies = scripts.read_round_trip(self._r, [*head, *_facts_commands(person_id)], ())
        raw_link = replies[0] if account_id is not None else None
        record, facts = parse_facts(person_id, _facts_replies(replies[-1]))
        return PersonSnapshot(record, facts, link=parse_link(person_id, raw_link) if raw_link else None)

    def load_for_session(self, token_hash: str, account_id: str, person_id: str,
                         probe: CacheProbe | None = None) -> PersonSnapshot:
        if probe is not None:
            return self._load_cached(token_hash, account_id, person_id, probe)

        commands = [("GET", session_key(token_hash)), ("HGET", account_key(account_id), id_field(person_id)),
                    *_facts_commands(person_id)]
        replies = scripts.read_round_trip(self._r, commands, ())
        record, facts = parse_facts(person_id, _facts_replies(replies[-1]))
        link = parse_link(person_id, replies[1]) if replies[1] else None
        return PersonSnapshot(record, facts, link=link, session=parse_session(replies[0]))

    def _load_cached(self, token_hash: str, account_id: str, person_id: str, probe: CacheProbe) -> PersonSnapshot:
        if not probe.look:  # the versions only: nothing looked up, no digest
            link_and_facts = [("HGET", account_key(account_id), id_field(person_id)), *_facts_commands(person_id)]
            if self._versions_at_once:  # the session and the versions in one MGET, as the lean read
                (raw_session, raw_policy, raw_risk), raw_link, *_, exec_reply = scripts.read_round_trip(
                    self._r, [("MGET", session_key(token_hash), POLICY_CURRENT, RISK_VERSION), *link_and_facts], ())
            else:
                raw_session, raw_policy, raw_risk, raw_link, *_, exec_reply = scripts.read_round_trip(
                    self._r, [("GET", session_key(token_hash)), *self._versions, *link_and_facts], ())
            record, facts = parse_facts(person_id, _facts_replies(exec_reply))
            return PersonSnapshot(record, facts, link=parse_link(person_id, raw_link) if raw_link else None,
                                  session=parse_session(raw_session),
                                  globals=Globals(raw_policy.decode() if raw_policy else None, int(raw_risk or 0)))
        # The facts and the answer stored for this slot come back together (one slot, in
        # MULTI). The answer is reused if its stamp is this read's: the person's generation (moved
        # by every write to the facts, lua/generation.lua), the salt (policy, risk table, signing
        # key: what lives outside the person) and the link's digest (another slot).
        commands = [("GET", session_key(token_hash)), ("HGET", account_key(account_id), id_field(person_id)),
                    ("GET", POLICY_CURRENT), ("GET", RISK_VERSION),
                    *_facts_commands(person_id, ("PTTL", visits_key(person_id)),
                                     ("HGET", answers_key(person_id), probe.slot))]
        raw_session, raw_link, raw_policy, raw_risk, *_, exec_reply = scripts.read_round_trip(self._r, commands, ())
        seen = Globals(raw_policy.decode() if raw_policy else None, int(raw_risk or 0))
        session = parse_session(raw_session)
        replies = _facts_replies(exec_reply)
        stamp = _stamp(replies[0].get(b"g"), probe.salt, raw_link)
        link = parse_link(person_id, raw_link) if raw_link else None
        # The visits expire as a key (a window after the latest): no write, no new generation.
        # An answer built from them is not reused past that moment.
        pttl, entry = exec_reply[4], exec_reply[5]
        facts_until = probe.now + pttl // 1000 if pttl >= 0 else None
        if entry:
            cached = _entry(entry, f"{stamp}|".encode(), probe.now)
            if cached is not None:
                self._kept.set((person_id, probe.slot), cached.reuse_until)
                return PersonSnapshot(None, link=link, session=session, cached=cached, digest=stamp, globals=seen)
        record, facts = parse_facts(person_id, replies)
        return PersonSnapshot(record, facts, link=link, session=session, digest=stamp, globals=seen,
                              facts_until=facts_until)

    def load_answer(self, token_hash: str, account_id: str, person_id: str, slot: str, salt: str,
                    now: int) -> KeptRead | None:
        """The lean round trip of a read this process expects to find an answer for (a page
        refreshing): session, link, the two versions and the answer; no facts, no generation.
        An answer in the person's answers hash is always of the current generation: it is
        stored only while the generation is the one it was built at (lua/answer_put.lua), and
        every move of the generation deletes the hash (lua/generation.lua), in one script each.
        None when no answer is expected, or it is gone or stale (the caller reads the facts then).

        The refresh storm's whole cost is here and in the layers above it (docs/BENCHMARKS.md):
        no object is made but the answer and the tuple that carries it. With the near cache, the
        round trip goes on the thread's tracking connection, with the session's PTTL, and what
        it found is kept there: the next refresh of this token, person and slot in the thread is
        one PING (adapters/store/near.py)."""
        near = self.near
        if near is not None:  # kept in this thread, and nothing it was read from written since
            kept = near.get((token_hash, person_id, slot), salt, time.time())
            if kept is not None and kept.answer.reuse_until > now:
                return kept
        key = (person_id, slot)
        if not self._kept.live(key, now):
            return None
        account, field, answers = _refresh_keys(account_id, person_id)
        link_and_answer = [("HGET", account, field), ("HGET", answers, slot)]
        seen: tuple[Any, ...] | None = None
        if self._versions_at_once:  # the session and the versions in one MGET: a reply less to read
            session = session_key(token_hash)
            commands = [("MGET", session, POLICY_CURRENT, RISK_VERSION), *link_and_answer]
            sent = time.time()
            read = near.read([*commands, ("PTTL", session)]) if near is not None else None
            if read is not None:  # on the tracking connection, with the session's time left
                ((raw_session, raw_policy, raw_risk), raw_link, entry, pttl), seen = read
            else:
                (raw_session, raw_policy, raw_risk), raw_link, entry = scripts.read_round_trip(self._r, commands, ())
        else:  # on a cluster the three keys live in three slots
            raw_session, raw_policy, raw_risk, raw_link, entry = scripts.read_round_trip(
                self._r, [("GET", session_key(token_hash)), *self._versions, *link_and_answer], ())
        if not entry:
            self._kept.drop(key)
            return None
        # Its stamp after the generation (any: see above) must be this salt's and link's.
        answer = _entry(entry, _refresh_stamp(salt, raw_link), now, entry.find(b":"))
        if answer is None:
            self._kept.drop(key)
            return None
        found = KeptRead(session_account(raw_session), answer,
                         raw_policy.decode() if raw_policy else None, int(raw_risk or 0))
        if seen is not None and near is not None and raw_session is not None and pttl != -2:
            # Kept until the session's key expires at the earliest: its time left counted from
            # before the read was sent (-1: no expiry).
            until = sent + pttl / 1000 if pttl >= 0 else math.inf
            near.keep((token_hash, person_id, slot), salt, found, _near_keys(session, account, answers), until, seen)
        return found

    def remember(self, entry: Remember, body: bytes) -> None:
        header = f"{entry.digest}|{entry.reuse_until:010d}|{entry.issued_at:010d}|{entry.expires_at:010d}|"
        # Not waited for: the read has its answer; a lost entry only costs the next read a
        # signature (scripts.send_unanswered).
        key, generation = answers_key(entry.person_id), entry.digest.partition(":")[0]
        if scripts.send_unanswered(self._r, key, ("EVAL", self._answer_put, 2, key, person_key(entry.person_id),
                                                  entry.slot, header.encode() + body, entry.reuse_until,
                                                  generation)):
            self._kept.set((entry.person_id, entry.slot), entry.reuse_until)

    def load_and_record_scan(self, person_id: str, scan: ScanRecord, issued_at: int, retention: int,
                             admission: Admission | None = None) -> PersonSnapshot:
        keys = (*facts_keys(person_id), scans_key(person_id))
        args = (scan.at, scan_json(scan, issued_at), retention, issued_at, MAX_SCANS, scan.place)
        script, counters, limits = self._facts_and_scan, [], []
        if admission is not None:
            if self._admit_and_scan is None:
                raise ValueError("no admission on this store (a cluster, or limits without its script)")
            script = self._admit_and_scan
            counters = [k for w in admission.windows for k in (w.previous_key, w.current_key)]
            limits = [a for w in admission.windows for a in (w.limit, w.seconds)]
        (reply,) = scripts.run_pipeline(self._r, lambda pipe: pipe.evalsha(
            script.sha, 5 + len(counters), *keys, *counters, *args, *limits), (script,))
        if admission is not None and len(reply) == 1:  # refused: each window's verdict, nothing recorded
            return PersonSnapshot(None, admitted=tuple(bool(x) for x in reply[0]))
        record, facts = parse_facts(person_id, reply[:4])
        ref = reply[4] if len(reply) > 4 else None
        return PersonSnapshot(record, facts, scan_ref=ref.decode() if ref else None,
                              admitted=None if admission is None else (True,) * len(admission.windows))


def admit_and_scan_script() -> str:
    """facts_and_scan after `limits`' sliding-window acquire script, once per window, in one
    script (lua/admit_and_scan.lua): the same counters and the same arithmetic as the limiter's
    own round trip (blueprints/limits.ScanLimit), kept out of the AOF and the replicas as there,
    where the scan's own writes are replicated."""
    text = sliding_window_text()
    assert text is not None
    return (f"local function acquire(KEYS, ARGV)\n{text}\nend\n"
            f"local function facts_and_scan(KEYS, ARGV)\n{scripts.source('facts_and_scan')}\nend\n"
            f"{scripts.source('admit_and_scan')}")


@cache
def sliding_window_text() -> str | None:
    """The acquire script of `limits`' sliding-window counter (None if this version has none)."""
    from limits.storage import RedisStorage

    text = getattr(RedisStorage, "SCRIPT_ACQUIRE_SLIDING_WINDOW", None)
    return text.decode() if isinstance(text, bytes) else text


def _facts_commands(person_id: str, *extra: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Everything a colour needs, in one transaction: person, markers, labs, visits (then `extra`)."""
    person, markers, labs, visits = facts_keys(person_id)
    return [("MULTI",), ("HGETALL", person), ("HGETALL", markers), ("ZRANGE", labs, 0, -1),
            ("ZRANGE", visits, 0, -1, "WITHSCORES"), *extra, ("EXEC",)]


def _facts_replies(exec_reply: list[Any]) -> list[Any]:
    """EXEC's replies as parse_facts reads them: hashes as dicts, visits as city -> score
    (RESP2 sends flat lists, RESP3 maps and [member, score] pairs)."""
    person, markers, labs, visits = exec_reply[:4]
    if visits and isinstance(visits[0], list):
        visits = {member: score for member, score in visits}
    return [pairs(person), pairs(markers), labs, pairs(visits)]


def _stamp(generation: bytes | None, salt: str, raw_link: bytes | None) -> str:
    """What an answer kept for reuse was built from: the person's generation (lua/generation.lua:
    every write to the facts moves it, in the write's own script), the salt and the link."""
    return f"{(generation or b'').decode()}:{salt}:{_link_digest(raw_link or b'')}"


@lru_cache(maxsize=8192)
def _refresh_keys(account_id: str, person_id: str) -> tuple[str, bytes, str]:
    """The refresh's keys and field of (account, person), once per pair among the latest few
    thousand: a page refreshing asks for the same again."""
    return account_key(account_id), id_field(person_id), answers_key(person_id)


@lru_cache(maxsize=8192)
def _near_keys(session: str, account: str, answers: str) -> tuple[bytes, bytes, bytes]:
    """The keys a kept refresh was read from, as Redis names them in its invalidations."""
    return session.encode(), account.encode(), answers.encode()


@lru_cache(maxsize=8192)
def _refresh_stamp(salt: str, raw_link: bytes | None) -> bytes:
    """A kept entry's stamp from its generation's end: ":salt:link digest|", as _stamp writes it
    (once per salt and link value among the latest few thousand: a refresh reads the same again)."""
    return f"{_stamp(None, salt, raw_link)}|".encode()


@lru_cache(maxsize=8192)
def _link_digest(raw_link: bytes) -> str:
    """The link's part of a stamp, once per link value while it is among the latest few thousand
    (a refresh reads the same link again within seconds; ~300 bytes an entry)."""
    return hashlib.sha1(raw_link, usedforsecurity=False).hexdigest()[:16]


def _entry(raw: bytes, stamp: bytes, now: int, at: int = 0) -> CachedAnswer | None:
    """An entry "stamp|reuse_until|issued_at|expires_at|body" (the numbers 10 digits each), if
    its stamp from `at` on is `stamp` (its "|" included) and it may still be reused at `now`;
    read in place, no slice of the stamp made."""
    if not raw.startswith(stamp, at):
        return None
    head = at + len(stamp)
    until = int(raw[head:head + 10])
    if until <= now:
        return None
    return CachedAnswer(raw[head + 33:], int(raw[head + 11:head + 21]), int(raw[head + 22:head + 32]), until)
