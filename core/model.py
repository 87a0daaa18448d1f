"""The core's entities and named values: what is stored and passed between the services."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class Color(StrEnum):
    """Health-code colours, in rising severity (DESIGN §1)."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Color.GREEN: 0, Color.YELLOW: 1, Color.RED: 2}


class Relation(StrEnum):
    """How an account is linked to a person: 申领 (self) or 代领 (family)."""

    SELF = "self"
    FAMILY = "family"


class NameSource(StrEnum):
    """Whose word the name on record is: an application's (self or family), or a face check's."""

    SELF = "self"
    FAMILY = "family"
    VERIFIED = "verified"


class IdDocument(StrEnum):
    """The document an 18-digit ID number is on (DESIGN §3): all three carry a GB 11643 check digit."""

    RESIDENT_ID = "resident_id"  # 居民身份证
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"  # 港澳台居民居住证 (810000 / 820000 / 830000)
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"  # 外国人永久居留身份证 (2023, starts with 9)


class LinkOutcome(StrEnum):
    """What linking an account to a person did."""

    OK = "ok"
    EXISTS = "exists"
    SELF_TAKEN = "self_taken"
    FAMILY_FULL = "family_full"


class MarkerStatus(StrEnum):
    PENDING = "pending"  # a manual red marker waiting for a second credential's approval
    ACTIVE = "active"
    REMOVED = "removed"
    LAPSED = "lapsed"  # pending too long without approval: it never coloured the code


class LabOutcome(StrEnum):
    """A nucleic-acid test's result."""

    NEGATIVE = "negative"
    POSITIVE = "positive"


class Role(StrEnum):
    """Staff roles a credential is made for."""

    AUTHORITY = "authority"  # marks people, sets risk areas, decides appeals
    APPROVER = "authority_approver"  # approves another credential's red markers; marks nobody
    CHECKPOINT = "checkpoint"
    AUDITOR = "auditor"  # reads and verifies the audit trail


class AppealStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the contested marker is cleared
    REJECTED = "rejected"  # it stays


class ScanFailure(StrEnum):
    """Why a scan rejects a code (API.md, POST /api/v1/scans)."""

    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class PersonRecord:
    """A person as stored: PII only as ciphertext, found by a keyed hash of the ID number (the
    index's; not kept in the record: derived from the number where needed, PersonDirectory.id_hash)."""

    id: str
    id_number_ct: bytes
    name_ct: bytes | None = None
    phone_ct: bytes | None = None
    self_account: str | None = None
    last_color: str | None = None
    revoked_before: int = 0
    created_at: int = 0
    name_source: NameSource | None = None
    accounts: tuple[str, ...] = ()  # the accounts that link to the person (for notices, clean-up)


@dataclass(frozen=True)
class Link:
    """An account's link to a person: `self` or `family`, and whether the face check passed."""

    person_id: str
    relation: Relation
    verified: bool
    linked_at: int
    # An application whose name differs from the record's unverified one: sealed on the link
    # until the face check passes against it, then it becomes the person's name. A `self`
    # application's phone likewise, as the phone the person's owner gives.
    claimed_name_ct: bytes | None = None
    claimed_phone_ct: bytes | None = None
    # The version of the notice (申领须知) the applicant agreed to, at `linked_at`.
    consent_notice: str | None = None


@dataclass(frozen=True)
class Session:
    account_id: str
    platform: str


@dataclass(frozen=True)
class Credential:
    """A staff credential (authority, checkpoint): who holds it and for which role."""

    id: str
    role: Role
    name: str
    created_at: int


@dataclass(frozen=True)
class Marker:
    """An authority's marking of a person (确诊, 密接, …), with who set it and why."""

    id: str
    person_id: str
    kind: str
    reason: str
    since: int
    until: int | None
    created_by: str
    status: MarkerStatus = MarkerStatus.ACTIVE
    note: str | None = None  # the authority's public note, shown to the person
    created_at: int = 0  # when it was made (a pending marker lapses counted from here)
    approved_by: str | None = None  # the second credential, for a manual red marker


@dataclass(frozen=True)
class LabResult:
    """A nucleic-acid test result (核酸检测结果)."""

    sampled_at: int
    result: LabOutcome
    lab: str


@dataclass(frozen=True)
class Visits:
    """The cities a phone stayed in (city code -> end of the latest stay there, by the travel
    card's rule) as of a time, and the window they are kept for after that end."""

    cities: dict[str, int]
    window: int
    as_of: int


NO_VISITS = Visits({}, 0, 0)


@dataclass(frozen=True)
class Facts:
    """Everything the colour of one person depends on."""

    markers: tuple[Marker, ...] = ()
    lab_results: tuple[LabResult, ...] = field(default_factory=tuple)
    # Where the person's phone stayed (operators' stays, DESIGN §4 exposure): city code and the
    # end of the latest stay there, within the travel card's window.
    visits: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class ColorChange:
    at: int
    from_color: str | None
    to_color: str
    reason_codes: tuple[str, ...]


@dataclass(frozen=True)
class ScanRecord:
    at: int
    place: str
    result: str


@dataclass(frozen=True)
class Appeal:
    """A person contests their colour (申诉), usually one marker; an authority decides."""

    id: str
    person_id: str
    reason: str
    created_at: int
    marker_id: str | None = None
    status: AppealStatus = AppealStatus.OPEN
    decided_at: int | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """One attributable action, chained to the one before it (prev_hash, hash)."""

    seq: int
    at: int
    actor: str  # the credential (or feed, or console user) id
    role: str
    action: str
    target: str  # pseudonymous: a person id, a marker id, a region code, a policy version
    reason: str = ""
    before: str | None = None  # the person's colour before and after, where it applies
    after: str | None = None
    prev_hash: str = ""
    hash: str = ""


@dataclass(frozen=True)
class RiskArea:
    """A county or city (GB/T 2260 code) and its risk level, as an authority set it."""

    code: str
    level: str  # low | medium | high
    note: str
    at: int
    by: str


@dataclass(frozen=True)
class ColorChanged:
    """A person's colour moved: what the notifications queue carries (no personal data)."""

    person_id: str
    from_color: str
    to_color: str
    at: int
    reason_codes: tuple[str, ...]


class CacheProbe(NamedTuple):
    """What a read asks (core/code_cache.py) of the cache: the answer of this slot (account and variant), if it is
    still valid at `now` for the facts as they are and this salt. `look` False (this process's
    first read of the slot): no answer and no digest, only the versions of the policy and the
    risk table read in the same round trip."""

    slot: str
    now: int
    salt: str
    look: bool = True


@dataclass(frozen=True)
class Globals:
    """The versions of what lives outside the person, as read in the same round trip."""

    policy_version: str | None
    risk_version: int


class CachedAnswer(NamedTuple):
    """An answer built earlier and still exact: its bytes, and when its code was issued.

    A named tuple, not a frozen dataclass as the rest: it is made on every refresh (the hottest
    read there is), and a frozen dataclass costs 0.66 us to make against 0.27 (docs/BENCHMARKS.md)."""

    body: bytes
    issued_at: int
    expires_at: int
    reuse_until: int = 0  # until when it may be served again


class KeptRead(NamedTuple):
    """The lean read of a refresh (PersonReads.load_answer): the account of the token's stored
    session (None: no such session), the answer kept for the slot, and the versions of the
    policy and the risk table, all from one round trip."""

    account_id: str | None
    answer: CachedAnswer
    policy_version: str | None
    risk_version: int


@dataclass(frozen=True)
class CountWindow:
    """A sliding-window counter a write is counted against (the checkpoint's scan limit): the
    previous and the current window's keys, the most it admits, the window's length."""

    previous_key: str
    current_key: str
    limit: int
    seconds: int


@dataclass(frozen=True)
class Admission:
    """Counters to count a write against in the write's own round trip, before it: every window
    counts it (one refusing does not stop the others), and it is done only if all admit it."""

    windows: tuple[CountWindow, ...]


@dataclass(frozen=True)
class Remember:
    """What storing the answer built from a read needs: where, the read's digest, and until when."""

    person_id: str
    slot: str
    digest: str
    reuse_until: int
    issued_at: int
    expires_at: int


@dataclass(frozen=True)
class PersonSnapshot:
    """One read of a person for the hot paths: the record and its facts, and, as the read asked,
    the account's link, the session of a token, or the reference of the scan it recorded."""

    person: PersonRecord | None
    facts: Facts = Facts()
    link: Link | None = None
    session: Session | None = None
    scan_ref: str | None = None
    # With a CacheProbe: the answer still valid for these facts, or the digest to store one
    # under, and the versions of the policy and the risk table the same round trip saw.
    cached: CachedAnswer | None = None
    digest: str | None = None
    globals: Globals | None = None
    facts_until: int | None = None  # the facts as read hold at most until then (a key expires)
    # With an Admission: each window's verdict (all True, or the scan was not recorded and the
    # person and facts are not read).
    admitted: tuple[bool, ...] | None = None
