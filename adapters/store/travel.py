"""Redis repositories of the travel card: operators' stays, SMS codes, travel tokens.

  hc:tr:{<phone-hash>}    stays (sorted set "place|from|to" by end), expiring a window after the last
  hc:sms:{<phone-hash>}   the SMS code's keyed hash and tries (hash h, n), 5 minutes
  hc:tt:<sha256(token)>   a travel token: phone hash and sealed number, with its lifetime
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import redis

from adapters.store import scripts
from adapters.store.encoding import text
from adapters.store.keys import all_visits_pattern, person_key, person_key_of, visits_key
from adapters.store.layout import IndexLayout, hex_ids
from core.stays import Stay
from core.travel import CodeCheck

CHUNK = 500  # phones per pipeline when a batch is stored


def stays_key(phone_hash: str) -> str:
    return f"hc:tr:{{{phone_hash}}}"


def code_key(phone_hash: str) -> str:
    return f"hc:sms:{{{phone_hash}}}"


def token_key(token_hash: str) -> str:
    return f"hc:tt:{token_hash}"


class RedisSmsCodes:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client
        self._attempt = scripts.register(client, "sms_attempt")

    def put(self, phone_hash: str, code_hash: str, ttl: int) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(code_key(phone_hash))
        pipe.hset(code_key(phone_hash), mapping={"h": code_hash, "n": 0})
        pipe.expire(code_key(phone_hash), ttl)
        pipe.execute()

    def attempt(self, phone_hash: str, code_hash: str, max_attempts: int) -> CodeCheck:
        return CodeCheck(text(self._attempt(keys=[code_key(phone_hash)], args=[code_hash, max_attempts])))

    def delete(self, phone_hash: str) -> None:
        self._r.delete(code_key(phone_hash))


class RedisTravelTokens:
    def __init__(self, client: redis.Redis) -> None:
        self._r = client

    def save(self, token_hash: str, phone_hash: str, phone_ct: bytes, ttl: int) -> None:
        self._r.set(token_key(token_hash), phone_hash.encode() + b"|" + phone_ct, ex=ttl)

    def get(self, token_hash: str) -> tuple[str, bytes] | None:
        raw = self._r.get(token_key(token_hash))
        if not isinstance(raw, bytes):
            return None
        phone_hash, _, phone_ct = raw.partition(b"|")
        return phone_hash.decode(), phone_ct


def _member(stay: Stay) -> str:
    return f"{stay.place}|{stay.start}|{stay.end}"


def _stay(raw: bytes) -> Stay:
    place, start, end = raw.decode().split("|")
    return Stay(place, int(start), int(end))


class RedisStays:
    def __init__(self, client: redis.Redis, layout: IndexLayout | None = None) -> None:
        self._r = client
        self._layout = layout or IndexLayout(client)
        self._add = scripts.register(client, "stays_add")
        self._visit = scripts.register(client, "visits_add")

    def add(self, stays: list[tuple[str, Stay]], visits: dict[str, dict[str, int]], window: int, now: int) -> None:
        by_phone: dict[str, list[Stay]] = defaultdict(list)
        for phone_hash, stay in stays:
            by_phone[phone_hash].append(stay)
        phones = list(by_phone.items())
        for start in range(0, len(phones), CHUNK):
            chunk = phones[start:start + CHUNK]

            def build(pipe: Any, chunk: list[tuple[str, list[Stay]]] = chunk) -> None:
                for phone_hash, phone_stays in chunk:
                    args: list[Any] = [now - window, window]
                    for stay in phone_stays:
                        args += [stay.end, _member(stay)]
                    pipe.evalsha(self._add.sha, 1, stays_key(phone_hash), *args)

            scripts.run_pipeline(self._r, build, (self._add,))
        self._add_visits(visits, window, now)

    def _add_visits(self, visits: dict[str, dict[str, int]], window: int, now: int) -> None:
        """Each phone's persons (the phone index, its own slot), then their visits (theirs)."""
        phones = list(visits.items())
        for start in range(0, len(phones), CHUNK):
            chunk = phones[start:start + CHUNK]
            pipe = self._r.pipeline(transaction=False)
            for phone_hash, _ in chunk:
                pipe.hget(*self._layout.phone_entry(phone_hash))
            holders = [hex_ids(raw) if raw else [] for raw in pipe.execute()]
            if not any(holders):
                continue

            def build(pipe: Any, chunk: list[tuple[str, dict[str, int]]] = chunk,
                      holders: list[list[str]] = holders) -> None:
                for (_, cities), persons in zip(chunk, holders, strict=True):
                    args: list[Any] = [now - window, window, 0]
                    for city, end in cities.items():
                        args += [city, end]
                    for person in persons:
                        pipe.evalsha(self._visit.sha, 2, visits_key(person), person_key(person), *args)

            scripts.run_pipeline(self._r, build, (self._visit,))

    def token_and_stays(self, token_hash: str, phone_hash: str) -> tuple[tuple[str, bytes] | None, list[Stay]]:
        raw, members = scripts.read_round_trip(
            self._r, [("GET", token_key(token_hash)), ("ZRANGE", stays_key(phone_hash), 0, -1)], ())
        found = None
        if isinstance(raw, bytes):
            stored, _, phone_ct = raw.partition(b"|")
            found = (stored.decode(), phone_ct)
        return found, [_stay(member) for member in members]

    def stays(self, phone_hash: str) -> list[Stay]:
        members: list[bytes] = self._r.zrange(stays_key(phone_hash), 0, -1)  # type: ignore[assignment]
        return [_stay(raw) for raw in members]

    def delete_all(self) -> dict[str, int]:
        removed = {"visits": self._delete_visits()}
        for name, pattern in (("stays", "hc:tr:*"), ("sms_codes", "hc:sms:*"), ("travel_tokens", "hc:tt:*"),
                              ("sms_limits", "hc:rl:*travel.*")):
            count = 0
            batch: list[Any] = []
            for key in self._r.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) == 1000:
                    count += int(self._r.delete(*batch))
                    batch = []
            if batch:
                count += int(self._r.delete(*batch))
            removed[name] = count
        return removed

    def _delete_visits(self) -> int:
        """Every person's visits, each through visits_add (replace, no cities): a colour built
        from them changes, so the person's generation moves and their kept answers go with it."""
        keys = [text(key) for key in self._r.scan_iter(match=all_visits_pattern(), count=1000)]
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]

            def build(pipe: Any, chunk: list[str] = chunk) -> None:
                for key in chunk:
                    pipe.evalsha(self._visit.sha, 2, key, person_key_of(key), 0, 1, 1)

            scripts.run_pipeline(self._r, build, (self._visit,))
        return len(keys)
