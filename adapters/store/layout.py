"""How the store lays out its global indexes, and the check that every process agrees on it.

The ID-number index (ID-number hash -> person id) and the phone index (phone hash -> the persons
with that phone) are the only keys that grow with the population outside a person's own hash
tag. One key per entry costs ~120 B of Redis memory each (key, object, dict entry); instead each
index is 2**bits bucket hashes, a bucket named by the top `bits` bits of the (keyed, uniform)
hash, the field the rest of the hash as raw bytes, the value raw person ids (12 bytes each). A
bucket of up to 128 entries is a listpack (Redis's hash-max-listpack-entries): ~30 B an entry.
Sizing: about 30-100 entries a bucket, i.e. bits ~ log2(persons / 50): 11 for 100 k persons,
14 for 1 M, 20 (the most) for 50 M; beyond, raise hash-max-listpack-entries (docs/SCALING.md).

Every process must use the same bits, or one writes where another never looks (a person applied
twice). The first process to reach an empty store writes `hc:{layout}` (version, bits); every
process checks it before its first index operation and refuses the store (503, logged) when it
differs. Changing bits, or upgrading a store of an earlier layout, is `flask --app app store
migrate` (cli.py), with the writers stopped.
"""
from __future__ import annotations

import logging
import re
import threading

import redis

log = logging.getLogger("healthcode")

VERSION = "2"  # 1: a string key per ID number, hex fields; 2: bucket hashes, raw ids
LAYOUT_KEY = "hc:{layout}"
ID_BYTES = 12  # person and account ids: 24 hex digits, stored as 12 raw bytes


class LayoutMismatch(redis.RedisError):
    """The store's index layout is not this process's: using it would split the indexes."""


def bucket(prefix: str, hash_hex: str, bits: int) -> tuple[str, bytes]:
    """The bucket key of a 128-bit hex hash and its field (the hash less its first byte, which
    the bucket's name holds whenever bits >= 8)."""
    n = int(hash_hex[:5], 16) >> (20 - bits)
    # The bits in the name: a layout's keys never collide with another's (store migrate).
    return f"{prefix}{bits}:{{{n:0{(bits + 3) // 4}x}}}", bytes.fromhex(hash_hex)[1:]


def unbucket(key: bytes | str, field: bytes) -> str:
    """The hex hash back from its bucket key and field (for migrations)."""
    name = key.decode() if isinstance(key, bytes) else key
    bits = int(name[:name.index("{")].rstrip(":").rsplit(":", 1)[1])
    n = int(name[name.index("{") + 1:name.index("}")], 16)
    return (bytes([n >> (bits - 8)]) + field).hex()


_HEX_ID = re.compile(r"[0-9a-f]{24}")


def raw_id(hex_id: str) -> bytes:
    """A 24-hex-digit person or account id (lower case, as made) as the 12 bytes the store keeps."""
    if not _HEX_ID.fullmatch(hex_id):
        raise ValueError("ids are 24 lower-case hex digits")
    return bytes.fromhex(hex_id)


def id_field(hex_id: str) -> bytes:
    """A person id as a hash field (the account's links): raw; a text that is no id (from a URL)
    as the empty field, which nothing is ever stored under."""
    try:
        return raw_id(hex_id)
    except ValueError:
        return b""


def hex_ids(raw: bytes) -> list[str]:
    """Concatenated raw ids as hex ids."""
    return [raw[k:k + ID_BYTES].hex() for k in range(0, len(raw), ID_BYTES)]


class IndexLayout:
    """The bits of this process's indexes, checked against the store's once per process."""

    def __init__(self, client: redis.Redis, bits: int = 16) -> None:
        if not 8 <= bits <= 20:
            raise ValueError("index bits must be 8..20")
        self._r, self.bits = client, bits
        self._checked = False
        self._lock = threading.Lock()

    def id_entry(self, id_hash: str) -> tuple[str, bytes]:
        self.check()
        return bucket("hc:id:", id_hash, self.bits)

    def phone_entry(self, phone_hash: str) -> tuple[str, bytes]:
        self.check()
        return bucket("hc:ph:", phone_hash, self.bits)

    def check(self) -> None:
        if self._checked:
            return
        with self._lock:
            if not self._checked:
                self._check()
                self._checked = True

    def _check(self) -> None:
        pipe = self._r.pipeline(transaction=True)
        pipe.hsetnx(LAYOUT_KEY, "version", VERSION)
        pipe.hsetnx(LAYOUT_KEY, "index_bits", self.bits)
        pipe.hmget(LAYOUT_KEY, ["version", "index_bits"])
        version, bits = (v.decode() if isinstance(v, bytes) else v for v in pipe.execute()[-1])
        if (version, bits) != (VERSION, str(self.bits)):
            message = (f"the store's index layout is version {version} with {bits} bits; this process has "
                       f"version {VERSION} with HEALTHCODE_INDEX_BITS={self.bits}: stop the writers and run "
                       "'flask --app app store migrate', or set HEALTHCODE_INDEX_BITS to the store's")
            log.error("refusing the store: %s", message)
            raise LayoutMismatch(message)
