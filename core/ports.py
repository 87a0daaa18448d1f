"""Ports: the small interfaces the core needs from the outside world, one per role.

adapters/ implements them (Redis, AES-GCM, COSE, the platforms); tests/unit/fakes.py fakes them.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from core.model import (
    Admission,
    Appeal,
    AuditEntry,
    CacheProbe,
    ColorChange,
    ColorChanged,
    Credential,
    KeptRead,
    LabResult,
    Link,
    LinkOutcome,
    Marker,
    MarkerStatus,
    NameSource,
    PersonRecord,
    PersonSnapshot,
    Remember,
    RiskArea,
    ScanRecord,
    Session,
    Visits,
)
from core.platforms import ColorNotice, IdentityCheck, PlatformIdentity, WebhookReply, WebhookRequest
from core.policy import Policy

if TYPE_CHECKING:
    from core.console import ConsoleUser
    from core.feeds import Feed
    from core.stays import Stay
    from core.travel import CodeCheck

# -- persons and their data ----------------------------------------------------------------


class Persons(Protocol):
    """Person records: the one record an ID number names, created once, erased by its owner."""

    def claim_index(self, id_hash: str, person_id: str) -> str:
        """The person id the ID-number hash names; `person_id` if this is its first claim."""
        ...

    def create(self, record: PersonRecord) -> None:
        """Write the record unless one exists (never overwrites)."""
        ...

    def get(self, person_id: str) -> PersonRecord | None: ...

    def erase(self, person_id: str, now: int) -> bool:
        """Drop the person's own data and history, revoking codes before `now`; True if
        authority facts kept the record."""
        ...

    def find(self, id_hash: str) -> str | None:
        """The person id the ID-number hash names, if any (creates nothing)."""
        ...

    def discard(self, person_id: str, id_hash: str) -> bool:
        """Remove a person no account links to and no fact names: record, history, index entry.
        False (nothing removed) while an account or a fact still holds them."""
        ...


class PersonDetails(Protocol):
    """What applications and face checks write on a person: name, phone, owner."""

    def set_name(self, person_id: str, name_ct: bytes | None, source: NameSource | None,
                 expected: bytes | None) -> bool:
        """Compare-and-set the name ciphertext; None deletes it. False if it was not `expected`."""
        ...

    def set_phone(self, person_id: str, phone_ct: bytes, phone_hash: str, visits: Visits) -> None:
        """The phone, sealed, and its lookup hash (the operators' stays find the person by it);
        the person's visits become that phone's (none kept from a previous phone)."""
        ...

    def claim_self(self, person_id: str, account_id: str, linked_at: int) -> str | None:
        """Make the account the person's verified owner unless another is; returns the owner,
        or None when the person was erased after `linked_at` (the link is stale)."""
        ...

    def add_account(self, person_id: str, account_id: str) -> None:
        """Note that the account links to the person (before the account's own link is made)."""
        ...

    def drop_account(self, person_id: str, account_id: str) -> int:
        """Forget that the account links to the person; how many accounts still do."""
        ...


class AccountLinks(Protocol):
    """An account's links to persons (one self, a few family)."""

    def links(self, account_id: str) -> dict[str, Link]: ...

    def link(self, account_id: str, link: Link, max_family: int) -> LinkOutcome: ...

    def unlink(self, account_id: str, person_id: str) -> None: ...

    def set_verified(self, account_id: str, person_id: str) -> bool:
        """Mark the link verified and drop its claims; False when the link is gone."""
        ...


class FactRecords(Protocol):
    """The facts a colour is derived from: authority markers and lab results."""

    def add_marker(self, marker: Marker) -> None:
        """Store the marker; a pending one also joins the approval queue."""
        ...

    def remove_marker(self, person_id: str, marker_id: str) -> Marker | None: ...

    def replace_marker(self, marker: Marker, expected: MarkerStatus) -> bool:
        """Compare-and-set a marker's status (pending → active, pending → lapsed); it leaves the
        approval queue. False when it is gone or no longer `expected`."""
        ...

    def pending_markers(self, limit: int) -> list[tuple[str, int]]:
        """The approval queue, oldest first: (marker id, created at)."""
        ...

    def add_lab_result(self, person_id: str, result: LabResult) -> bool:
        """Keep the result; False when the same result is already kept (a re-delivery)."""
        ...


class Appeals(Protocol):
    """Appeals by person, and the open ones for the authorities."""

    def add(self, appeal: Appeal) -> None: ...

    def get(self, person_id: str, appeal_id: str) -> Appeal | None: ...

    def for_person(self, person_id: str) -> list[Appeal]: ...

    def open_appeals(self, limit: int) -> list[Appeal]: ...

    def decide(self, appeal: Appeal) -> bool:
        """Store the decision if the appeal is still open (compare-and-set)."""
        ...


class RiskAreas(Protocol):
    """The current risk level of each county or city (one write per change, no fan-out)."""

    def set(self, area: RiskArea) -> RiskArea | None:
        """Store the area's level; the one it replaces."""
        ...

    def current(self) -> dict[str, RiskArea]: ...

    def version(self) -> int:
        """A counter every change increments (caches of the table compare it)."""
        ...

    def history(self, limit: int) -> list[RiskArea]: ...


class AuditLog(Protocol):
    """The audit entries in order, appended only after the head the caller chained from."""

    def head(self) -> tuple[int, str]:
        """(seq, hash) of the last entry; (0, GENESIS) for an empty trail."""
        ...

    def append(self, expected_head: tuple[int, str], entries: list[AuditEntry]) -> bool: ...

    def entries(self, since_seq: int, limit: int) -> list[AuditEntry]: ...

    def all_entries(self) -> Iterator[AuditEntry]: ...


class PolicyStore(Protocol):
    """The colour policy in force, versioned: every process sees a change within a second."""

    def current(self) -> Policy: ...

    def observe(self, version: str | None) -> bool:
        """A read saw `version` in force: load it now if this process holds another (True)."""
        ...

    def ensure_published(self) -> str:
        """At start-up: the configured policy is the first in force if none is yet; the version
        in force."""
        ...

    def publish(self, doc: Mapping[str, Any]) -> Policy:
        """Make the policy document the one in force (its version must be new)."""
        ...


class FeedStore(Protocol):
    """The machines that push signed batches, with their secrets (kept sealed)."""

    def save(self, feed: Feed) -> None: ...

    def get(self, name: str) -> Feed | None: ...

    def all(self) -> list[Feed]: ...


class SeenOnce(Protocol):
    """A token (a callback's or a batch's signature) passes once within `ttl` seconds."""

    def first_time(self, scope: str, token: str, ttl: int) -> bool: ...


class SmsCodes(Protocol):
    """Travel-card SMS codes by phone hash: only a keyed hash of the code, with a lifetime and a
    count of tries."""

    def put(self, phone_hash: str, code_hash: str, ttl: int) -> None:
        """A new code (the tries start again)."""
        ...

    def attempt(self, phone_hash: str, code_hash: str, max_attempts: int) -> CodeCheck:
        """Try a code: OK (and it is gone), WRONG, NONE (none or expired), EXHAUSTED (gone)."""
        ...

    def delete(self, phone_hash: str) -> None: ...


class TravelTokens(Protocol):
    """Travel-card tokens: a proven phone (its hash, and its number sealed), with a lifetime."""

    def save(self, token_hash: str, phone_hash: str, phone_ct: bytes, ttl: int) -> None: ...

    def get(self, token_hash: str) -> tuple[str, bytes] | None: ...


class StayStore(Protocol):
    """Operators' stays by phone hash, kept only as long as the travel card's window."""

    def add(self, stays: list[tuple[str, Stay]], visits: dict[str, dict[str, int]], window: int, now: int) -> None:
        """Keep the stays; add `visits` (phone hash -> city -> latest end) to the persons with
        that phone (the health code's exposure rule reads them with the person's facts)."""
        ...

    def stays(self, phone_hash: str) -> list[Stay]: ...

    def token_and_stays(self, token_hash: str, phone_hash: str) -> tuple[tuple[str, bytes] | None, list[Stay]]:
        """A travel token (as TravelTokens.get) and the stays of the phone its text names, in one
        round trip (the caller checks that the token is that phone's)."""
        ...

    def delete_all(self) -> dict[str, int]:
        """Every stay, SMS code and travel token gone: how many keys of each."""
        ...


class SmsSender(Protocol):
    """Sends the travel card's verification codes (短信验证码)."""

    def send_code(self, phone: str, code: str) -> None:
        """Send `code` to `phone` (E.164, +86…). PlatformUnavailable when the provider fails or
        refuses for its own reasons (quota, frequency); InvalidInput when it refuses the number."""
        ...


class Counters(Protocol):
    """What an epidemic office watches, counted as it happens (no scan over all persons)."""

    def count_change(self, from_color: str | None, to_color: str, reasons: tuple[str, ...], at: int) -> None: ...

    def count_scan(self, at: int) -> None: ...

    def snapshot(self, now: int, days: int) -> dict[str, Any]: ...


class HistoryLog(Protocol):
    """Colour changes and scans, kept for the retention period (trimmed by the store itself)."""

    def record_change(self, person_id: str, expected_last: str | None, change: ColorChange,
                      retention: int) -> bool:
        """Append the change if the person's last colour is still `expected_last`."""
        ...

    def replace_scan(self, person_id: str, ref: str, scan: ScanRecord) -> None: ...

    def history(self, person_id: str, since: int) -> tuple[list[ColorChange], list[ScanRecord]]:
        """Changes and scans since `since`, newest first."""
        ...


class PersonReads(Protocol):
    """The fused reads of the hot paths: everything a colour needs in one round trip."""

    def load(self, person_id: str, account_id: str | None = None) -> PersonSnapshot:
        """The person and facts, with the account's link when `account_id` is given."""
        ...

    def load_for_session(self, token_hash: str, account_id: str, person_id: str,
                         probe: CacheProbe | None = None) -> PersonSnapshot:
        """As load(), with the session the token's hash names. With a probe: the stored answer
        of its slot if the facts, the account's link and the salt are what they were when it
        was stored (then the facts need not be returned), else the digest to store one under;
        and the versions of the policy and the risk table, all in the same round trip."""
        ...

    def load_answer(self, token_hash: str, account_id: str, person_id: str, slot: str, salt: str,
                    now: int) -> KeptRead | None:
        """The lean read of a page refreshing, where this process expects an answer for
        (person, slot) (it stored or found one, still reusable at `now`): the session the token's
        hash names, the answer if it was built under this salt and the account's current link,
        and the versions of the policy and the risk table, in one round trip and without the
        facts (every write to them drops the answers). None when no answer is expected here, or
        it is gone or stale: load_for_session with a probe reads the facts then."""
        ...

    def remember(self, entry: Remember, body: bytes) -> None:
        """Store an answer for reuse until `entry.reuse_until` (a cache: may be lost any time)."""
        ...

    admits: bool
    """Whether load_and_record_scan can take an Admission (count the scan in its own round trip)."""

    def load_and_record_scan(self, person_id: str, scan: ScanRecord, issued_at: int,
                             retention: int, admission: Admission | None = None) -> PersonSnapshot:
        """As load(), writing the scan into the person's history in the same step (its
        `scan_ref`, or None when the person has not applied or the code predates an erasure).
        With an admission (only where `admits`): first counted against its windows, in the same
        round trip; if one refuses, nothing is read or written but the counts (`admitted`)."""
        ...


# -- tokens ----------------------------------------------------------------------------------


class SessionStore(Protocol):
    """Mini-program sessions by token hash, with a lifetime."""

    def save_session(self, token_hash: str, session: Session, ttl: int) -> None: ...

    def session(self, token_hash: str) -> Session | None: ...

    def delete_session(self, token_hash: str) -> None: ...


class CredentialStore(Protocol):
    """Staff credentials by token hash."""

    def save_credential(self, token_hash: str, credential: Credential) -> None: ...

    def credential(self, token_hash: str) -> Credential | None: ...

    def credentials(self) -> list[Credential]: ...

    def revoke_credential(self, credential_id: str) -> bool: ...


class ConsoleUsers(Protocol):
    """The console's users by username: added once, never renamed or deleted (disabled instead)."""

    def add(self, user: ConsoleUser) -> bool:
        """Store a new user; False when the username is taken."""
        ...

    def get(self, username: str) -> ConsoleUser | None: ...

    def replace(self, user: ConsoleUser) -> None: ...

    def all(self) -> list[ConsoleUser]: ...


class ConsoleSessions(Protocol):
    """Server-side console sessions by token hash, each gone by itself after `ttl` seconds."""

    def save(self, token_hash: str, data: Mapping[str, Any], ttl: int) -> None: ...

    def load(self, token_hash: str) -> dict[str, Any] | None: ...

    def delete(self, token_hash: str) -> None: ...


class PasswordHashing(Protocol):
    """A slow, salted password hash (argon2id) whose parameters may be raised over time."""

    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool: ...

    def needs_rehash(self, hashed: str) -> bool:
        """The hash was made with other parameters than the ones in use now."""
        ...


# -- the outside world -----------------------------------------------------------------------


class PlatformAdapter(Protocol):
    """One superapp's login, phone authorization, identity check and callbacks, in core terms.

    Failures: a code the platform refuses is `InvalidLoginCode`; a platform that times out,
    fails or is over its quota is `PlatformUnavailable`; a callback whose signature does not
    verify is `BadSignature`. Nothing here writes the core's store.
    """

    name: str

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        """The account behind a mini-program login code (wx.login, my.getAuthCode, OAuth code),
        for one of the platform's configured apps (the first when `app_id` is None)."""
        ...

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        """Prepare the platform's face check (人脸核身) of the person with this name and ID number."""
        ...

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """Whether the face check `ticket` passed, for the person with this name and ID number."""
        ...

    def phone_number(self, account_id: str, proof: Mapping[str, str]) -> str:
        """The phone number the platform vouches for (its phone authorization), as digits."""
        ...

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        """Check a callback's signature before reading it; the reply and the events it carried."""
        ...


class Outbox(Protocol):
    """The durable queue of colour changes to tell linked accounts about (a Redis stream with a
    consumer group): nothing acknowledged by `done` is lost, and each send is noted once."""

    def enqueue(self, event: ColorChanged) -> None: ...

    def take(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, ColorChanged]]:
        """Events for this consumer: ones another consumer took and left unfinished for long
        (it crashed), then new ones, waiting up to `block_ms` for them."""
        ...

    def done(self, event_id: str) -> None: ...

    def was_sent(self, event_id: str, account_id: str) -> bool: ...

    def mark_sent(self, event_id: str, account_id: str) -> None: ...


class Notifier(Protocol):
    """Tells an account's user about a person's colour change (subscribe/template messages)."""

    def notify(self, account_id: str, notice: ColorNotice) -> bool:
        """True when the platform took the message; False when the user cannot be reached."""
        ...


class PiiVault(Protocol):
    """Keyed lookup hashes and authenticated encryption of personal data."""

    def lookup_hash(self, value: str) -> str: ...

    def seal(self, value: str, context: str) -> bytes: ...

    def open(self, blob: bytes, context: str) -> str: ...


class SigningKeys(Protocol):
    """The code-signing key ring, as operators and verifiers see it."""

    def ensure_active_key(self) -> str: ...

    def rotate(self) -> str: ...

    def retire(self, kid: str) -> None: ...

    def keys(self) -> list[dict[str, Any]]: ...

    def jwks(self) -> dict[str, Any]: ...


class QrRenderer(Protocol):
    """QR images of code texts, drawn in the code's colour when one is given."""

    def png(self, qr: str, color: str | None = None) -> bytes: ...

    def svg(self, qr: str, color: str | None = None) -> bytes: ...


class StoreHealth(Protocol):
    """Whether the store answers, and what its outages look like."""

    errors: tuple[type[Exception], ...]
    """The exceptions that mean the store is unreachable (503, never 500)."""

    def ping(self) -> None:
        """Raise one of `errors` unless the store answers."""
        ...

    def recover(self) -> None:
        """After an outage: restart what this process may restart (the embedded server)."""
        ...
