"""In-memory fakes of the ports in core/ports.py and core/codes.py, and the services wired on
them by the app's own core.wiring.wire().

FakePersonStore implements every person port over dicts and mirrors the semantics of the Redis
store (adapters/store/): the first claim of an ID-number hash wins, `create` never overwrites,
`link` answers ok/exists/self_taken/family_full, `erase` keeps or drops the facts,
`record_change` only writes when the expected last colour still holds, and history is newest
first. tests/integration/test_store_contract.py holds both to the same contract.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from adapters.sms.console import ConsoleSms
from core.clock import Clock, FixedClock
from core.codes import CodeClaims, InvalidCode
from core.errors import InvalidInput, Msg, PlatformUnavailable
from core.model import (
    CachedAnswer,
    CacheProbe,
    Color,
    ColorChange,
    ColorChanged,
    Credential,
    Facts,
    Globals,
    KeptRead,
    LabResult,
    Link,
    LinkOutcome,
    Marker,
    MarkerStatus,
    NameSource,
    PersonRecord,
    PersonSnapshot,
    Relation,
    Remember,
    ScanRecord,
    Session,
    Visits,
)
from core.persons import Application, PersonView
from core.platforms import ColorNotice, IdentityCheck, PlatformIdentity, WebhookReply, WebhookRequest
from core.policy import Policy
from core.wiring import Adapters, Services, ServiceSettings, Stores, wire
from tests.unit.fakes_authority import (
    FakeAppeals,
    FakeAuditLog,
    FakeConsoleSessions,
    FakeConsoleUsers,
    FakeFeeds,
    FakePasswords,
    FakeRiskAreas,
    FakeSeenOnce,
    FakeSmsCodes,
    FakeStays,
    FakeTravelTokens,
)

MAX_LAB_RESULTS = 50  # as the Redis store keeps


# -- persons -------------------------------------------------------------------------------


class FakePersonStore:
    """Persons, PersonDetails, AccountLinks, FactRecords, HistoryLog and PersonReads over dicts."""

    def __init__(self) -> None:
        self.index: dict[str, str] = {}
        self.persons: dict[str, PersonRecord] = {}
        self.accounts: dict[str, dict[str, Link]] = {}
        self.markers: dict[str, dict[str, Marker]] = {}
        self.labs: dict[str, list[LabResult]] = {}
        self.changes: dict[str, list[ColorChange]] = {}
        self.scans: dict[str, list[ScanRecord]] = {}
        self.scanned: dict[str, set[tuple[int, str]]] = {}  # (code issued at, place) recorded
        self.pending: dict[str, int] = {}  # the approval queue: marker id -> created at
        self.phones: dict[str, set[str]] = {}  # phone hash -> persons
        self.visits: dict[str, dict[str, int]] = {}  # person -> city -> last seen
        self.answers: dict[tuple[str, str], tuple[str, int, CachedAnswer]] = {}  # kept for reuse
        self.tokens: FakeTokenStore | None = None
        self.risk_version: Callable[[], int] = lambda: 0  # the World's risk table's
        self.erased_at: dict[str, int] = {}  # what is left of a person erased without facts

    # -- persons ---------------------------------------------------------------------------

    def claim_index(self, id_hash: str, person_id: str) -> str:
        return self.index.setdefault(id_hash, person_id)

    def create(self, record: PersonRecord) -> None:
        if record.id in self.persons:
            return
        # Only what the Redis store writes on create: ID-number ciphertext, time.
        self.persons[record.id] = PersonRecord(
            id=record.id,
            id_number_ct=record.id_number_ct,
            created_at=record.created_at,
            revoked_before=self.erased_at.get(record.id, 0),
        )

    def get(self, person_id: str) -> PersonRecord | None:
        return self.persons.get(person_id)

    def set_phone(self, person_id: str, phone_ct: bytes, phone_hash: str, visits: Visits) -> None:
        record = self.persons.get(person_id)
        if record is not None:
            self.persons[person_id] = replace(record, phone_ct=phone_ct)
            if person_id not in self.phones.get(phone_hash, set()):
                self.visits.pop(person_id, None)  # another phone's visits are not this one's
            for holders in self.phones.values():
                holders.discard(person_id)
            self.phones.setdefault(phone_hash, set()).add(person_id)
            self.add_visits(person_id, visits.cities)

    def add_visits(self, person_id: str, cities: dict[str, int]) -> None:
        mine = self.visits.setdefault(person_id, {})
        for city, end in cities.items():
            mine[city] = max(end, mine.get(city, 0))

    def set_name(self, person_id: str, name_ct: bytes | None, source: NameSource | None,
                 expected: bytes | None) -> bool:
        record = self.persons.get(person_id)
        if record is None or record.name_ct != expected:
            return False
        self.persons[person_id] = replace(record, name_ct=name_ct, name_source=source if name_ct else None)
        return True

    def claim_self(self, person_id: str, account_id: str, linked_at: int) -> str | None:
        record = self.persons.get(person_id)
        if record is None or record.name_ct is None or linked_at < record.revoked_before:
            return None
        if record.self_account is not None:
            return record.self_account
        self.persons[person_id] = replace(record, self_account=account_id)
        return account_id

    def erase(self, person_id: str, now: int) -> bool:
        # As the Redis script: one step; the ID-number index keeps pointing at the person id.
        self.changes.pop(person_id, None)
        self.scans.pop(person_id, None)
        self.scanned.pop(person_id, None)
        self.visits.pop(person_id, None)
        for holders in self.phones.values():
            holders.discard(person_id)
        keep = self._has_facts(person_id)
        stored = self.persons.get(person_id)
        if keep and stored is not None:
            self.persons[person_id] = replace(
                stored, name_ct=None, phone_ct=None, self_account=None, last_color=None, revoked_before=now,
                name_source=None, accounts=(),
            )
        else:
            self.persons.pop(person_id, None)
            self.erased_at[person_id] = now
        return keep

    def _has_facts(self, person_id: str) -> bool:
        return bool(self.markers.get(person_id) or self.labs.get(person_id))

    def find(self, id_hash: str) -> str | None:
        return self.index.get(id_hash)

    def discard(self, person_id: str, id_hash: str) -> bool:
        record = self.persons.get(person_id)
        if (record is not None and record.accounts) or self._has_facts(person_id):
            return False
        for store in (self.persons, self.changes, self.scans, self.scanned, self.markers, self.labs,
                      self.erased_at, self.visits):
            store.pop(person_id, None)
        if self.index.get(id_hash) == person_id:
            del self.index[id_hash]
        return True

    def add_account(self, person_id: str, account_id: str) -> None:
        record = self.persons.get(person_id)
        if record is not None and account_id not in record.accounts:
            self.persons[person_id] = replace(record, accounts=(*record.accounts, account_id))

    def drop_account(self, person_id: str, account_id: str) -> int:
        record = self.persons.get(person_id)
        if record is None:
            return 0
        accounts = tuple(a for a in record.accounts if a != account_id)
        self.persons[person_id] = replace(record, accounts=accounts)
        return len(accounts)

    # -- account links ---------------------------------------------------------------------

    def links(self, account_id: str) -> dict[str, Link]:
        return dict(self.accounts.get(account_id, {}))

    def link(self, account_id: str, link: Link, max_family: int) -> LinkOutcome:
        links = self.accounts.setdefault(account_id, {})
        if link.person_id in links:
            return LinkOutcome.EXISTS
        if link.relation == Relation.SELF and any(other.relation == Relation.SELF for other in links.values()):
            return LinkOutcome.SELF_TAKEN
        family = sum(other.relation == Relation.FAMILY for other in links.values())
        if link.relation == Relation.FAMILY and family >= max_family:
            return LinkOutcome.FAMILY_FULL
        links[link.person_id] = link
        return LinkOutcome.OK

    def unlink(self, account_id: str, person_id: str) -> None:
        self.accounts.get(account_id, {}).pop(person_id, None)

    def set_verified(self, account_id: str, person_id: str) -> bool:
        links = self.accounts.get(account_id, {})
        if person_id not in links:
            return False
        links[person_id] = replace(links[person_id], verified=True, claimed_name_ct=None, claimed_phone_ct=None)
        return True

    # -- facts -----------------------------------------------------------------------------

    def load(self, person_id: str, account_id: str | None = None) -> PersonSnapshot:
        link = self.accounts.get(account_id, {}).get(person_id) if account_id is not None else None
        facts = Facts(
            markers=tuple(self.markers.get(person_id, {}).values()),
            lab_results=tuple(self.labs.get(person_id, [])),
            visits=tuple(self.visits.get(person_id, {}).items()),
        )
        return PersonSnapshot(self.persons.get(person_id), facts, link=link)

    def load_for_session(self, token_hash: str, account_id: str, person_id: str,
                         probe: CacheProbe | None = None) -> PersonSnapshot:
        session = self.tokens.session(token_hash) if self.tokens is not None else None
        snapshot = replace(self.load(person_id, account_id), session=session)
        if probe is None:
            return snapshot
        if not probe.look:  # as Redis: the versions only
            return replace(snapshot, globals=Globals(None, self.risk_version()))
        # As the Redis script: a digest of everything the answer was built from, and the
        # stored answer only when it was stored under the same digest and is still reusable.
        person = replace(snapshot.person, last_color=None) if snapshot.person is not None else None
        digest = hashlib.sha1(repr((person, snapshot.facts, snapshot.link, probe.salt)).encode(),
                              usedforsecurity=False).hexdigest()
        stored = self.answers.get((person_id, probe.slot))
        if stored is not None and stored[0] == digest and stored[1] > probe.now:
            return PersonSnapshot(None, link=snapshot.link, session=session, cached=stored[2], digest=digest)
        return replace(snapshot, digest=digest)

    def load_answer(self, token_hash: str, account_id: str, person_id: str, slot: str, salt: str,
                    now: int) -> KeptRead | None:
        # As Redis: the same check as a probe's, without the facts; the versions as they are now.
        snapshot = self.load_for_session(token_hash, account_id, person_id, CacheProbe(slot, now, salt))
        if snapshot.cached is None:
            return None
        return KeptRead(snapshot.session.account_id if snapshot.session is not None else None, snapshot.cached,
                        None, self.risk_version())

    def remember(self, entry: Remember, body: bytes) -> None:
        self.answers[(entry.person_id, entry.slot)] = (
            entry.digest, entry.reuse_until, CachedAnswer(body, entry.issued_at, entry.expires_at))

    admits = False

    def load_and_record_scan(self, person_id: str, scan: ScanRecord, issued_at: int, retention: int,
                             admission: object = None) -> PersonSnapshot:
        snapshot = self.load(person_id)
        return replace(snapshot, scan_ref=self._record(person_id, scan, issued_at, retention))

    def replace_scan(self, person_id: str, ref: str, scan: ScanRecord) -> None:
        scans = self.scans.get(person_id, [])
        index = int(ref)
        if index < len(scans) and scans[index] is not None:
            scans[index] = scan

    def add_marker(self, marker: Marker) -> None:
        self.markers.setdefault(marker.person_id, {})[marker.id] = marker
        if marker.status == MarkerStatus.PENDING:
            self.pending[marker.id] = marker.created_at

    def replace_marker(self, marker: Marker, expected: MarkerStatus) -> bool:
        current = self.markers.get(marker.person_id, {}).get(marker.id)
        if current is None or current.status != expected:
            return False
        self.markers[marker.person_id][marker.id] = marker
        self.pending.pop(marker.id, None)
        return True

    def pending_markers(self, limit: int) -> list[tuple[str, int]]:
        return sorted(self.pending.items(), key=lambda item: item[1])[:limit]

    def remove_marker(self, person_id: str, marker_id: str) -> Marker | None:
        self.pending.pop(marker_id, None)
        return self.markers.get(person_id, {}).pop(marker_id, None)

    def add_lab_result(self, person_id: str, result: LabResult) -> bool:
        labs = self.labs.setdefault(person_id, [])
        if result in labs:
            return False
        labs.append(result)
        labs.sort(key=lambda r: r.sampled_at)
        del labs[:-MAX_LAB_RESULTS]
        return True

    # -- history ---------------------------------------------------------------------------

    def record_change(
        self, person_id: str, expected_last: str | None, change: ColorChange, retention: int
    ) -> bool:
        record = self.persons.get(person_id)
        if record is None or (record.last_color or "") != (expected_last or ""):
            return False
        self.persons[person_id] = replace(record, last_color=change.to_color)
        self.changes[person_id] = _trimmed(self.changes.get(person_id, []) + [change], change.at - retention)
        return True

    def _record(self, person_id: str, scan: ScanRecord, issued_at: int, retention: int) -> str | None:
        # As the Redis script: only for a person who applied and was not erased after issue.
        record = self.persons.get(person_id)
        if record is None or record.name_ct is None or issued_at < record.revoked_before:
            return None
        seen = self.scanned.setdefault(person_id, set())
        if (issued_at, scan.place) in seen:
            return None  # this code at this place is in the history already
        seen.add((issued_at, scan.place))
        scans = _trimmed(self.scans.get(person_id, []), scan.at - retention) + [scan]
        self.scans[person_id] = scans
        return str(len(scans) - 1)

    def history(self, person_id: str, since: int) -> tuple[list[ColorChange], list[ScanRecord]]:
        def newest_first(items):
            # Same-second entries: the later one first, as the Redis store's sequence keeps them.
            return sorted(
                (item for item in reversed(items) if item.at >= since), key=lambda item: item.at, reverse=True
            )

        return newest_first(self.changes.get(person_id, [])), newest_first(self.scans.get(person_id, []))


def _trimmed(items: list, older_than_or_at: int) -> list:
    # ZREMRANGEBYSCORE -inf <at - retention>: the bound itself goes too.
    return [item for item in items if item.at > older_than_or_at]


# -- tokens --------------------------------------------------------------------------------


class FakeTokenStore:
    """SessionStore and CredentialStore over dicts; sessions expire on the given clock, as Redis
    keys with a TTL do."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock
        self.sessions: dict[str, tuple[Session, int | None]] = {}
        self.credentials_by_hash: dict[str, Credential] = {}

    def save_session(self, token_hash: str, session: Session, ttl: int) -> None:
        expires = self._clock.now() + ttl if self._clock is not None else None
        self.sessions[token_hash] = (session, expires)

    def session(self, token_hash: str) -> Session | None:
        found = self.sessions.get(token_hash)
        if found is None:
            return None
        session, expires = found
        if expires is not None and self._clock is not None and self._clock.now() >= expires:
            del self.sessions[token_hash]
            return None
        return session

    def delete_session(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    def save_credential(self, token_hash: str, credential: Credential) -> None:
        self.credentials_by_hash[token_hash] = credential

    def credential(self, token_hash: str) -> Credential | None:
        return self.credentials_by_hash.get(token_hash)

    def credentials(self) -> list[Credential]:
        return sorted(self.credentials_by_hash.values(), key=lambda c: c.created_at)

    def revoke_credential(self, credential_id: str) -> bool:
        for token_hash, credential in list(self.credentials_by_hash.items()):
            if credential.id == credential_id:
                del self.credentials_by_hash[token_hash]
                return True
        return False


# -- personal data ---------------------------------------------------------------------------


class WrongContext(ValueError):
    """A ciphertext opened under another person or field, as AES-GCM's associated data would refuse."""


class FakeVault:
    """PiiVault: a keyed digest for look-ups; 'encryption' is a prefix, the context and reversed bytes."""

    PREFIX = b"sealed\x00"

    def __init__(self, key: bytes = b"fake-lookup-key") -> None:
        self._key = key

    def lookup_hash(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, value: str, context: str) -> bytes:
        return self.PREFIX + context.encode() + b"\x00" + value.encode()[::-1]

    def open(self, blob: bytes, context: str) -> str:
        head = self.PREFIX + context.encode() + b"\x00"
        if not blob.startswith(head):
            raise WrongContext(f"not sealed for {context}")
        return blob[len(head) :][::-1].decode()


# -- signing -----------------------------------------------------------------------------------


class FakeCodec:
    """CodeSigner and CodeVerifier: JSON claims and an HMAC tag, `FAKE1:<payload>.<tag>`.

    `kid` signs; `known_kids` verify (default: just `kid`), so rotation can be played out.
    """

    PREFIX = "FAKE1:"

    def __init__(
        self, kid: str = "k1", known_kids: set[str] | None = None, secret: bytes = b"fake-signing"
    ) -> None:
        self.kid = kid
        self.known_kids = {kid} if known_kids is None else known_kids
        self._secret = secret

    def key_id(self) -> str:
        return self.kid

    def sign(self, claims: CodeClaims) -> str:
        doc = {
            "iss": claims.issuer,
            "cti": claims.code_id.hex(),
            "col": claims.color.value,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
            "name": claims.name_masked,
            "kid": self.kid,
        }
        payload = base64.urlsafe_b64encode(json.dumps(doc, ensure_ascii=False).encode()).decode()
        return f"{self.PREFIX}{payload}.{self._tag(self.kid, payload)}"

    def verify(self, qr: str) -> CodeClaims:
        if not isinstance(qr, str) or not qr.startswith(self.PREFIX) or qr.count(".") != 1:
            raise InvalidCode("malformed", "not a fake code")
        payload, tag = qr[len(self.PREFIX) :].split(".")
        try:
            doc = json.loads(base64.urlsafe_b64decode(payload.encode()))
            kid = doc["kid"]
            claims = CodeClaims(
                issuer=doc["iss"],
                code_id=bytes.fromhex(doc["cti"]),
                color=Color(doc["col"]),
                issued_at=doc["iat"],
                expires_at=doc["exp"],
                name_masked=doc["name"],
                kid=kid,
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidCode("malformed", "bad claims") from None
        if kid not in self.known_kids:
            raise InvalidCode("unknown_key")
        if not hmac.compare_digest(tag, self._tag(kid, payload)):
            raise InvalidCode("bad_signature")
        return claims

    def _tag(self, kid: str, payload: str) -> str:
        return hmac.new(self._secret, f"{kid}.{payload}".encode(), hashlib.sha256).hexdigest()[:16]

    @classmethod
    def claims_of(cls, qr: str) -> dict:
        """The claims in a fake code, unverified: for tests that tamper with them."""
        return json.loads(base64.urlsafe_b64decode(qr[len(cls.PREFIX) :].split(".")[0].encode()))

    @classmethod
    def with_claims(cls, qr: str, **changes: object) -> str:
        """The same code with some claims changed and the old tag kept: a forgery."""
        doc = cls.claims_of(qr) | changes
        tag = qr.split(".")[1]
        payload = base64.urlsafe_b64encode(json.dumps(doc, ensure_ascii=False).encode()).decode()
        return f"{cls.PREFIX}{payload}.{tag}"


_PERSON_ID = re.compile(r"[0-9a-f]{24}")


class FakeCodeIdCipher:
    """CodeIdCipher: person id (12 bytes) || issued_at (4 bytes), XORed with a fixed mask."""

    MASK = bytes(range(0x5A, 0x5A + 16))

    def seal(self, person_id: str, issued_at: int) -> bytes:
        if not _PERSON_ID.fullmatch(person_id) or not 0 <= issued_at < 2**32:
            raise ValueError("person id must be 24 lowercase hex, issued_at 4 bytes")
        block = bytes.fromhex(person_id) + issued_at.to_bytes(4, "big")
        return bytes(a ^ b for a, b in zip(block, self.MASK, strict=True))

    def open(self, code_id: bytes) -> tuple[str, int]:
        if not isinstance(code_id, bytes) or len(code_id) != 16:
            raise InvalidCode("malformed", "code id must be 16 bytes")
        block = bytes(a ^ b for a, b in zip(code_id, self.MASK, strict=True))
        return block[:12].hex(), int.from_bytes(block[12:], "big")


# -- platforms -------------------------------------------------------------------------------


class FakeAccountIds:
    """AccountIds: a keyed digest, as the real one is."""

    def __init__(self, key: bytes = b"fake-account-key") -> None:
        self._key = key

    def account_id(self, platform: str, app_id: str, user_id: str) -> str:
        return hmac.new(self._key, f"{platform}|{app_id}|{user_id}".encode(), hashlib.sha256).hexdigest()[:24]


class FakePlatform:
    """A superapp: any non-empty code logs in as the user it names; the face check passes for 'ok'."""

    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self._ids = FakeAccountIds()

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        if not code:
            raise InvalidInput(Msg.INVALID_LOGIN_CODE, {"code": [Msg.REQUIRED]})
        return PlatformIdentity.of(self._ids, self.name, "app", code)

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        self.checked = (name, id_number)
        return IdentityCheck(ticket="ok", expires_in=600)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        self.checked = (name, id_number)
        return ticket == "ok"

    def phone_number(self, account_id: str, proof) -> str:
        return proof["phone"]

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        return WebhookReply(body="success")


# -- everything wired ------------------------------------------------------------------------

# 2026-12-01 08:00 in Beijing.
NOW = int(dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC).timestamp())
ISSUER = "CN-TEST"


class FakeKeys:
    """SigningKeys of the fake codec: its kid, no published key material."""

    def __init__(self, codec: FakeCodec) -> None:
        self._codec = codec

    def ensure_active_key(self) -> str:
        return self._codec.kid

    def rotate(self) -> str:
        raise NotImplementedError("the unit tests rotate FakeCodec.kid directly")

    def retire(self, kid: str) -> None:
        self._codec.known_kids.discard(kid)

    def keys(self) -> list[dict]:
        return [{"kid": kid} for kid in sorted(self._codec.known_kids)]

    def jwks(self) -> dict:
        return {"keys": []}


class FakeQr:
    """QrRenderer: the text itself, as bytes."""

    def png(self, qr: str, color: str | None = None) -> bytes:
        return qr.encode()

    def svg(self, qr: str, color: str | None = None) -> bytes:
        return qr.encode()


class FakeOutbox:
    """Outbox over a list: taken events stay until done, as a stream's pending entries do."""

    def __init__(self) -> None:
        self.events: dict[str, ColorChanged] = {}
        self.sent: set[tuple[str, str]] = set()
        self._next = 0

    def enqueue(self, event: ColorChanged) -> None:
        self._next += 1
        self.events[f"{self._next}-0"] = event

    def take(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ColorChanged]]:
        return list(self.events.items())[:count]

    def done(self, event_id: str) -> None:
        self.events.pop(event_id, None)

    def was_sent(self, event_id: str, account_id: str) -> bool:
        return (event_id, account_id) in self.sent

    def mark_sent(self, event_id: str, account_id: str) -> None:
        self.sent.add((event_id, account_id))


class FakeNotifier:
    """Notifier: records what it was asked to send; knows every account unless told otherwise."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, ColorNotice]] = []
        self.unreachable: set[str] = set()
        self.down = False

    def notify(self, account_id: str, notice: ColorNotice) -> bool:
        if self.down:
            raise PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)
        if account_id in self.unreachable:
            return False
        self.sent.append((account_id, notice))
        return True


class FakePolicyStore:
    """PolicyStore of one process: publish replaces the policy in force."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.versions = {policy.version}

    def current(self) -> Policy:
        return self.policy

    def ensure_published(self) -> str:
        return self.policy.version

    def observe(self, version) -> bool:
        return False  # one process: it always holds the policy in force

    def publish(self, doc) -> Policy:
        from core.errors import Conflict
        from core.policy import load_policy

        policy = load_policy(dict(doc))
        if policy.version in self.versions:
            raise Conflict(Msg.POLICY_VERSION_TAKEN)
        self.versions.add(policy.version)
        self.policy = policy
        return policy


class FakeCounters:
    """Counters over dicts."""

    def __init__(self) -> None:
        self.colors: dict[str, int] = {}
        self.reasons: dict[str, int] = {}
        self.scans = 0

    def count_change(self, from_color, to_color, reasons, at) -> None:
        if from_color:
            self.colors[from_color] = self.colors.get(from_color, 0) - 1
        self.colors[to_color] = self.colors.get(to_color, 0) + 1
        for reason in reasons:
            self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def count_scan(self, at) -> None:
        self.scans += 1

    def snapshot(self, now, days) -> dict:
        return {"colors": dict(self.colors), "reasons": dict(self.reasons), "scans": self.scans}


class FakeStoreHealth:
    """StoreHealth of dicts: always up."""

    errors: tuple[type[Exception], ...] = ()

    def ping(self) -> None:
        return None

    def recover(self) -> None:
        return None


@dataclass
class World:
    """The core services on fakes, wired by core.wiring.wire() as the app's are."""

    policy: Policy
    clock: FixedClock = dataclasses.field(default_factory=lambda: FixedClock(NOW))
    store: FakePersonStore = dataclasses.field(default_factory=FakePersonStore)
    vault: FakeVault = dataclasses.field(default_factory=FakeVault)
    codec: FakeCodec = dataclasses.field(default_factory=FakeCodec)
    code_ids: FakeCodeIdCipher = dataclasses.field(default_factory=FakeCodeIdCipher)
    platform: FakePlatform = dataclasses.field(default_factory=FakePlatform)
    code_ttl: int = 60
    code_cache: bool = True
    outbox: FakeOutbox = dataclasses.field(default_factory=FakeOutbox)
    counters: FakeCounters = dataclasses.field(default_factory=FakeCounters)
    notifier: FakeNotifier = dataclasses.field(default_factory=FakeNotifier)

    def __post_init__(self) -> None:
        self.policies = FakePolicyStore(self.policy)
        self.audit_log, self.appeals, self.risk_areas = FakeAuditLog(), FakeAppeals(), FakeRiskAreas()
        self.feeds, self.seen = FakeFeeds(), FakeSeenOnce()
        self.travel_tokens = FakeTravelTokens(self.clock)
        self.stays, self.sms = FakeStays(self.store, self.travel_tokens), ConsoleSms()
        self.console_users, self.passwords = FakeConsoleUsers(), FakePasswords()
        self.console_sessions = FakeConsoleSessions(self.clock)
        self.tokens = FakeTokenStore(self.clock)
        self.store.tokens = self.tokens
        self.store.risk_version = self.risk_areas.version
        store = self.store
        stores = Stores(persons=store, details=store, links=store, facts=store, history=store, reads=store,
                        sessions=self.tokens, credentials=self.tokens)
        adapters = Adapters(
            stores=stores, vault=self.vault, clock=self.clock, signer=self.codec, verifier=self.codec,
            code_ids=self.code_ids, platforms={self.platform.name: self.platform}, keys=FakeKeys(self.codec),
            qr=FakeQr(), store=FakeStoreHealth(), outbox=self.outbox, notifiers=(self.notifier,),
            policies=self.policies, counters=self.counters, audit_log=self.audit_log, appeals=self.appeals,
            risk_areas=self.risk_areas, feeds=self.feeds, seen=self.seen, sms_codes=FakeSmsCodes(self.clock),
            travel_tokens=self.travel_tokens, stays=self.stays, sms=self.sms,
            console_users=self.console_users, console_sessions=self.console_sessions, passwords=self.passwords,
        )
        self.services: Services = wire(adapters, ServiceSettings(policy=self.policy, issuer=ISSUER,
                                                                 code_ttl=self.code_ttl, code_cache=self.code_cache))
        self.sessions = self.services.sessions
        self.credentials = self.services.credentials
        self.persons = self.services.persons
        self.codes = self.services.codes
        self.marking = self.services.marking
        self.notifications = self.services.notifications

    def login(self, user: str = "alice") -> Session:
        return self.sessions.authenticate(self.sessions.login(self.platform.name, user).token)

    def apply_verified(self, session: Session, application: Application) -> PersonView:
        """Apply, then pass the face check on the new link (what shows a code)."""
        view = self.persons.apply(session, application)
        return self.persons.verify(session, view.id, self.platform, "ok")

    def staff(self, role: str = "authority") -> Credential:
        return self.credentials.create(role, f"{role} desk")[1]

    def mark(self, request, actor: Credential | None = None):
        """Mark as an authority does, a red marker approved by a second credential (the two-person
        rule): what makes the marker take effect."""
        outcome = self.marking.add_marker(request, actor or self.staff())
        if outcome.marker.status == MarkerStatus.PENDING:
            outcome = self.marking.approve(outcome.marker.id, self.staff("authority_approver"))
        return outcome


def id_number(born: str = "19491231", sequence: str = "002", region: str = "110105") -> str:
    """A 居民身份证 number with the right GB 11643 check digit."""
    body = region + born + sequence
    total = sum(int(digit) * (2 ** (17 - i) % 11) for i, digit in enumerate(body))
    return body + "10X98765432"[total % 11]
