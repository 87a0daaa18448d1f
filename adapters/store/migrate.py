"""`flask --app app store migrate`: a store written by an earlier layout, or with other index bits,
brought to this process's (adapters/store/layout.py). Run it with the writers stopped.

Safe to run again after a crash, and a no-op on a store already there: each person and account
hash is rewritten in one step and only where a field is still in an older form; the new index
buckets are written beside the old index keys (their names carry the bits, so no key of one
layout is a key of another); the layout record changes once they are all written, and the old
keys are deleted last.

Older forms read: version 1 (hex ids and hashes; `a` comma-joined; links under hex person ids
with the relation spelt out; a string key per ID number `hc:id:{<hash>}`; the phone index as a
set per phone `hc:ph:{<hash>}` or as hex buckets `hc:ph:{<4 hex>}` of comma-joined ids), and
version 2 with any other bits.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from adapters.store import scripts
from adapters.store.layout import LAYOUT_KEY, VERSION, bucket, hex_ids, raw_id, unbucket

HEX = re.compile(rb"[0-9a-f]+")
HEX_IDS = re.compile(rb"[0-9a-f]{24}(?:,[0-9a-f]{24})*")
REPLACE_HASH = "redis.call('DEL', KEYS[1]); redis.call('HSET', KEYS[1], unpack(ARGV)); return 1"


def _hex(value: bytes | None, digits: int) -> bytes | None:
    """The raw bytes of a hex text of that many digits; None when it is not one (already raw)."""
    if value is not None and len(value) == digits and HEX.fullmatch(value):
        return bytes.fromhex(value.decode())
    return None


def _scan(client: Any, pattern: str) -> list[bytes]:
    return list(client.scan_iter(match=pattern, count=1000))


def migrate(client: Any, bits: int, echo: Callable[[str], None] = lambda _: None) -> dict[str, int]:
    """Bring the store to layout VERSION with `bits`; how many keys of each kind changed."""
    counts: Counter[str] = Counter()
    _persons(client, counts)
    echo(f"persons rewritten: {counts['persons']}")
    _accounts(client, counts)
    echo(f"accounts rewritten: {counts['accounts']}")
    old = _id_index(client, bits, counts) + _phone_index(client, bits, counts)
    echo(f"index entries written: {counts['id_entries']} ID numbers, {counts['phone_entries']} phone links")
    client.hset(LAYOUT_KEY, mapping={"version": VERSION, "index_bits": bits})
    for key in old:
        client.delete(key)
    counts["old_index_keys_deleted"] = len(old)
    echo(f"layout: version {VERSION}, {bits} bits; old index keys deleted: {len(old)}")
    return dict(counts)


def _persons(client: Any, counts: Counter[str]) -> None:
    for key in _scan(client, "hc:p:{*}"):
        if not key.endswith(b"}"):
            continue  # markers, history, ...: nothing to change
        raw = client.hgetall(key)
        update: dict[bytes, bytes] = {}
        for field, digits in ((b"ph", 32), (b"o", 24)):
            value = _hex(raw.get(field), digits)
            if value is not None:
                update[field] = value
        source = {b"self": b"s", b"family": b"f", b"verified": b"v"}.get(raw.get(b"ns", b""))
        if source is not None:
            update[b"ns"] = source
        accounts = raw.get(b"a")
        if accounts and HEX_IDS.fullmatch(accounts):
            update[b"a"] = b"".join(bytes.fromhex(a) for a in accounts.decode().split(","))
        if b"h" in raw:  # layout 2 keeps no ID-number hash in the record (the index has it)
            client.hdel(key, "h")
        if update:
            client.hset(key, mapping=update)
        if update or b"h" in raw:
            counts["persons"] += 1


def _accounts(client: Any, counts: Counter[str]) -> None:
    for key in _scan(client, "hc:a:{*}"):
        raw = client.hgetall(key)
        links: list[bytes] = []
        changed = False
        for field, value in raw.items():
            new_field = _hex(field, 24) or field
            new_value = value
            for word, code in ((b"self|", b"s|"), (b"family|", b"f|")):
                if value.startswith(word):
                    new_value = code + value[len(word):]
            changed |= (new_field, new_value) != (field, value)
            links += [new_field, new_value]
        if changed:  # one step: the links are never half gone
            client.eval(REPLACE_HASH, 1, key, *links)
            counts["accounts"] += 1


def _tag(key: bytes) -> str:
    return key[key.index(b"{") + 1:key.index(b"}")].decode()


def _old_index_keys(client: Any, prefix: str, bits: int, old: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
    """Each index key under `prefix` that is not of this layout, with its type; noted in `old`."""
    for key in _scan(client, f"{prefix}*"):
        if not key.startswith(f"{prefix}{bits}:".encode()):
            old.append(key)
            yield key, client.type(key)


def _id_index(client: Any, bits: int, counts: Counter[str]) -> list[bytes]:
    old: list[bytes] = []
    for key, kind in _old_index_keys(client, "hc:id:", bits, old):
        if kind == b"string":  # version 1: hc:id:{<hash>} -> hex person id
            entries = [(_tag(key), client.get(key).decode())]
        elif kind == b"hash":
            entries = [(unbucket(key, f), v.hex()) for f, v in client.hgetall(key).items()]
        else:
            continue
        for id_hash, person_id in entries:
            client.hsetnx(*bucket("hc:id:", id_hash, bits), raw_id(person_id))
            counts["id_entries"] += 1
    return old


def _phone_index(client: Any, bits: int, counts: Counter[str]) -> list[bytes]:
    add = scripts.register(client, "phone_index")
    old: list[bytes] = []
    for key, kind in _old_index_keys(client, "hc:ph:", bits, old):
        entries: list[tuple[str, list[str]]] = []
        if kind == b"set":  # version 1: a set of hex person ids per phone
            entries = [(_tag(key), [m.decode() for m in client.smembers(key)])]
        elif kind == b"hash" and key.count(b":") == 2:  # version 1: hc:ph:{<4 hex>}, hex fields
            prefix = _tag(key)
            entries = [(prefix + f.decode(), v.decode().split(",")) for f, v in client.hgetall(key).items()]
        elif kind == b"hash":
            entries = [(unbucket(key, f), hex_ids(v)) for f, v in client.hgetall(key).items()]
        for phone_hash, persons in entries:
            new_key, field = bucket("hc:ph:", phone_hash, bits)
            for person_id in persons:
                add(keys=[new_key], args=[field, "add", raw_id(person_id)])
                counts["phone_entries"] += 1
    return old
