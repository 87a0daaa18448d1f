"""The ES256 signing keys, kept in Redis, shared by every process (DESIGN §5).

Layout: hash `{prefix}:{keys}` (field kid -> JSON record) and counter
`{prefix}:{keys}:ver`, incremented on every change. Exactly one key is `active`
(it signs); older ones are `verify` (they still verify) until `retired`.
A `verify` key whose `not_after` has passed counts as retired.

kid = the first 8 bytes of SHA-256 over the public key's uncompressed SEC1
point (0x04 || X || Y, 65 bytes), so anyone holding the published x/y can
recompute it. As text it is base64url without padding (11 characters).

Private keys are stored only encrypted: AES-256-GCM under the wrap key, with
the kid as associated data, so a record cannot be moved to another kid and a
wrong wrap key fails (`WrapKeyError`) instead of signing with garbage.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ACTIVE, VERIFY, RETIRED = "active", "verify", "retired"
_CURVE = ec.SECP256R1()


class RetiredKey(LookupError):
    """The kid is known but its key is retired: its codes are no longer accepted."""


class WrapKeyError(RuntimeError):
    """A private key cannot be unwrapped: wrong wrap key or a tampered key record."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def kid_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The 8-byte key id: SHA-256 of the uncompressed point, truncated."""
    point = public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    return hashlib.sha256(point).digest()[:8]


def kid_text(kid: bytes) -> str:
    return b64url(kid)


@dataclass
class _Key:
    kid: bytes
    record: dict
    public: ec.EllipticCurvePublicKey
    private: ec.EllipticCurvePrivateKey | None = None


@dataclass(frozen=True)
class _Snapshot:
    version: object
    keys: dict[bytes, _Key]
    active: _Key | None


_NEVER_LOADED = object()


class RedisKeyRing:
    """The key ring: cached per process, reloaded within `refresh_seconds` of a change."""

    def __init__(
        self,
        redis_client: redis.Redis,
        wrap_key: bytes,
        issuer: str,
        key_prefix: str = "hc",
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(wrap_key) != 32:
            raise ValueError("wrap_key must be 32 bytes (AES-256)")
        self._redis = redis_client
        self._aead = AESGCM(wrap_key)
        self.issuer = issuer
        # One hash tag for both: they are WATCHed and written in one transaction (Redis Cluster).
        self._hash_key = f"{key_prefix}:{{keys}}"
        self._ver_key = f"{key_prefix}:{{keys}}:ver"
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot = _Snapshot(_NEVER_LOADED, {}, None)
        self._next_check = float("-inf")

    # -- reading (hot path) ------------------------------------------------

    def signing_key(self) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
        """The active key's kid and private key; raises LookupError if there is none."""
        active = self._current().active
        if active is None:
            # The store lost the ring (a failover to an empty replica, a flush): make a new key
            # rather than fail every read; scanners fetch it from /.well-known.
            self.ensure_active_key()
            active = self._current(force=True).active
        if active is None:
            raise LookupError("no active signing key")
        if active.private is None:
            active.private = self._unwrap(active)
        return active.kid, active.private

    def public_key(self, kid: bytes) -> ec.EllipticCurvePublicKey:
        """The public key for kid; KeyError if unknown, RetiredKey if retired."""
        key = self._current().keys.get(kid)
        if key is None:  # perhaps a key made in another process since our last check
            key = self._current(force=True).keys.get(kid)
        if key is None:
            raise KeyError(kid_text(kid))
        if self._status(key.record) == RETIRED:
            raise RetiredKey(kid_text(kid))
        return key.public

    def keys(self) -> list[dict]:
        """Metadata of every key, oldest first; never any private material."""
        fields = ("kid", "x", "y", "created_at", "not_after")
        return [
            {**{f: k.record[f] for f in fields}, "status": self._status(k.record)}
            for k in sorted(self._current().keys.values(), key=lambda k: k.record["seq"])
        ]

    def jwks(self) -> dict:
        """The published key set (API.md `/.well-known/health-code-keys`): active and verify keys."""
        if self._current().active is None:  # the store was down at start-up, or lost the ring
            self.ensure_active_key()
        return {
            "keys": [
                {
                    "kid": k["kid"],
                    "kty": "EC",
                    "crv": "P-256",
                    "x": k["x"],
                    "y": k["y"],
                    "alg": "ES256",
                    "iss": self.issuer,
                    "not_after": _iso8601(k["not_after"]),
                }
                for k in reversed(self.keys())
                if k["status"] != RETIRED
            ]
        }

    # -- changing -----------------------------------------------------------

    def ensure_active_key(self) -> str:
        """The active kid, creating the first key if there is none; checks the wrap key."""

        def change(records: dict[str, dict]) -> tuple[dict[str, dict], str]:
            for kid, record in records.items():
                if record["status"] == ACTIVE:
                    return {}, kid
            record = self._new_record(seq=len(records) + 1)
            return {record["kid"]: record}, record["kid"]

        kid = self._change(change)
        self.signing_key()  # fail at start-up, not at the first scan, if the wrap key is wrong
        return kid

    def rotate(self, *, keep_previous_for: float | None = None) -> str:
        """Make a new active key; the previous one becomes `verify`.

        With keep_previous_for (seconds), the previous key stops verifying after
        that long (its `not_after`); without it, it verifies until retired.
        """

        def change(records: dict[str, dict]) -> tuple[dict[str, dict], str]:
            new = self._new_record(seq=len(records) + 1)
            changes = {new["kid"]: new}
            for kid, record in records.items():
                if record["status"] == ACTIVE:
                    not_after = None
                    if keep_previous_for is not None:
                        not_after = int(self._clock() + keep_previous_for)
                    changes[kid] = {**record, "status": VERIFY, "not_after": not_after}
            return changes, new["kid"]

        return self._change(change)

    def retire(self, kid: str | bytes) -> None:
        """Stop accepting codes signed by kid. KeyError if unknown; ValueError if active."""
        kid = kid_text(kid) if isinstance(kid, bytes) else kid

        def change(records: dict[str, dict]) -> tuple[dict[str, dict], None]:
            record = records.get(kid)
            if record is None:
                raise KeyError(kid)
            if record["status"] == ACTIVE:
                raise ValueError(f"key {kid} is active: rotate() before retiring it")
            if record["status"] == RETIRED:
                return {}, None
            now = int(self._clock())
            not_after = now if record["not_after"] is None else min(record["not_after"], now)
            return {kid: {**record, "status": RETIRED, "not_after": not_after}}, None

        self._change(change)

    # -- internals ------------------------------------------------------------

    def _status(self, record: dict) -> str:
        if record["status"] == VERIFY and record["not_after"] is not None:
            if record["not_after"] <= self._clock():
                return RETIRED
        return record["status"]

    def _current(self, force: bool = False) -> _Snapshot:
        now = self._clock()
        if force or now >= self._next_check:
            with self._lock:
                if force or now >= self._next_check:
                    if self._redis.get(self._ver_key) != self._snapshot.version:
                        self._reload()
                    self._next_check = now + self._refresh
        return self._snapshot

    def _reload(self) -> None:
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(self._ver_key)
            pipe.hgetall(self._hash_key)
            version, raw = pipe.execute()
        old = {k.kid: k for k in self._snapshot.keys.values()}
        keys: dict[bytes, _Key] = {}
        for value in raw.values():
            record = json.loads(value)
            kid = b64url_decode(record["kid"])
            cached = old.get(kid)
            if cached is not None and (cached.record["x"], cached.record["y"]) == (record["x"], record["y"]):
                keys[kid] = _Key(kid, record, cached.public, cached.private)
            else:
                keys[kid] = _Key(kid, record, _public_from_record(record))
        active = [k for k in keys.values() if k.record["status"] == ACTIVE]
        newest = max(active, key=lambda k: k.record["seq"], default=None)
        self._snapshot = _Snapshot(version, keys, newest)

    def _change(self, change: Callable[[dict[str, dict]], tuple[dict[str, dict], Any]]) -> Any:
        """Apply change(records) -> (changed records, result) atomically across processes."""
        with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(self._hash_key, self._ver_key)
                    records = {_text(f): json.loads(v) for f, v in pipe.hgetall(self._hash_key).items()}
                    changes, result = change(records)
                    if not changes:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.hset(self._hash_key, mapping={k: json.dumps(r) for k, r in changes.items()})
                    pipe.incr(self._ver_key)
                    pipe.execute()
                    break
                except redis.WatchError:
                    continue
        # A transaction's replies are read as a batch, so no WAIT follows it on its connection
        # (adapters/store/replication.py). A second bump of the version, a command of its own,
        # does get one, and a master replicates in order: once a replica has the bump, it has
        # the change before it. (Readers merely reload once more.)
        self._redis.incr(self._ver_key)
        self._next_check = float("-inf")  # our own change is visible at once
        return result

    def _new_record(self, seq: int) -> dict:
        """A new active key; seq orders keys (creation times can tie within a second)."""
        private = ec.generate_private_key(_CURVE)
        numbers = private.public_key().public_numbers()
        kid = kid_of(private.public_key())
        nonce = os.urandom(12)
        wrapped = self._aead.encrypt(nonce, private.private_numbers().private_value.to_bytes(32, "big"), kid)
        return {
            "kid": kid_text(kid),
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
            "d_wrapped": b64url(nonce + wrapped),
            "wrap_alg": "A256GCM",
            "status": ACTIVE,
            "seq": seq,
            "created_at": int(self._clock()),
            "not_after": None,
        }

    def _unwrap(self, key: _Key) -> ec.EllipticCurvePrivateKey:
        blob = b64url_decode(key.record["d_wrapped"])
        try:
            scalar = self._aead.decrypt(blob[:12], blob[12:], key.kid)
        except InvalidTag:
            raise WrapKeyError(
                f"cannot unwrap signing key {kid_text(key.kid)}: wrong wrap key or tampered record"
            ) from None
        private = ec.derive_private_key(int.from_bytes(scalar, "big"), _CURVE)
        if private.public_key().public_numbers() != key.public.public_numbers():
            raise WrapKeyError(f"signing key {kid_text(key.kid)} does not match its public key")
        return private


def _public_from_record(record: dict) -> ec.EllipticCurvePublicKey:
    x = int.from_bytes(b64url_decode(record["x"]), "big")
    y = int.from_bytes(b64url_decode(record["y"]), "big")
    return ec.EllipticCurvePublicNumbers(x, y, _CURVE).public_key()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _iso8601(timestamp: int | None) -> str | None:
    if timestamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))
