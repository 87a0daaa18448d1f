"""wire(): the one place the core services are built from their ports, for the app and the tests.

The app's bootstrap builds real adapters (Redis, AES-GCM, COSE) and calls wire(); the unit
tests build fakes and call the same wire(), so both run the services wired the same way.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.accounts import CredentialService, SessionService
from core.appeals import AppealService
from core.audit import AuditTrail
from core.clock import Clock
from core.code_cache import AnswerCache
from core.codes import CodeIdCipher, CodeIssuer, CodeSigner, CodeVerifier
from core.color import ColorRecorder
from core.console import ConsoleUserService
from core.dashboard import DashboardService
from core.directory import PersonDirectory
from core.feeds import FeedService
from core.health_codes import HealthCodeService
from core.marking import MarkingService
from core.notice import Notice
from core.notifications import NotificationService
from core.persons import PersonService
from core.policy import Policy
from core.ports import (
    AccountLinks,
    Appeals,
    AuditLog,
    ConsoleSessions,
    ConsoleUsers,
    Counters,
    CredentialStore,
    FactRecords,
    FeedStore,
    HistoryLog,
    Notifier,
    Outbox,
    PasswordHashing,
    PersonDetails,
    PersonReads,
    Persons,
    PiiVault,
    PlatformAdapter,
    PolicyStore,
    QrRenderer,
    RiskAreas,
    SeenOnce,
    SessionStore,
    SigningKeys,
    SmsCodes,
    SmsSender,
    StayStore,
    StoreHealth,
    TravelTokens,
)
from core.risk import PolicyService, RiskAreaService, RiskTable
from core.stays import TravelPolicy, shipped_travel_policy
from core.travel import TravelService


@dataclass(frozen=True)
class Stores:
    """The store's ports; one adapter object may implement several."""

    persons: Persons
    details: PersonDetails
    links: AccountLinks
    facts: FactRecords
    history: HistoryLog
    reads: PersonReads
    sessions: SessionStore
    credentials: CredentialStore


@dataclass(frozen=True)
class Adapters:
    """Everything from the outside world the services need."""

    stores: Stores
    vault: PiiVault
    clock: Clock
    signer: CodeSigner
    verifier: CodeVerifier
    code_ids: CodeIdCipher
    platforms: Mapping[str, PlatformAdapter]
    keys: SigningKeys
    qr: QrRenderer
    store: StoreHealth
    outbox: Outbox
    policies: PolicyStore
    counters: Counters
    audit_log: AuditLog
    appeals: Appeals
    risk_areas: RiskAreas
    feeds: FeedStore
    seen: SeenOnce
    sms_codes: SmsCodes
    travel_tokens: TravelTokens
    stays: StayStore
    sms: SmsSender
    console_users: ConsoleUsers
    console_sessions: ConsoleSessions
    passwords: PasswordHashing
    notifiers: Sequence[Notifier] = ()


@dataclass(frozen=True)
class Contact:
    """Whom a person with a yellow or red code calls, and where they go (shown on the code)."""

    hotline: str = "12345"
    office: str = ""


@dataclass(frozen=True)
class ServiceSettings:
    """The settings the services take (config.Settings holds them with the rest)."""

    policy: Policy
    issuer: str
    policy_doc: Mapping[str, Any] = field(default_factory=dict)  # the document `policy` was read from
    audit_key: bytes = b"audit-key-for-tests-only-0123456789"  # bootstrap derives it from the secret
    code_ttl: int = 60
    code_cache: bool = True  # reuse a signed answer while nothing it depends on changed
    session_ttl: int = 7200
    retention_days: int = 30
    max_family: int = 5
    credential_cache_seconds: float = 5.0
    notice: Notice | None = None  # None: applying asks for no consent (unit tests only)
    contact: Contact = Contact()
    travel_policy: TravelPolicy | None = None  # None: the shipped policies/travel-card-policy.json
    travel_token_ttl: int = 1800
    travel_retired: bool = False
    console_session_ttl: int = 8 * 3600


@dataclass(frozen=True)
class Services:
    """What the HTTP edge and the CLI reach: the core services and the adapters they expose."""

    sessions: SessionService
    credentials: CredentialService
    persons: PersonService
    codes: HealthCodeService
    marking: MarkingService
    colors: ColorRecorder
    notifications: NotificationService
    keys: SigningKeys
    qr: QrRenderer
    store: StoreHealth
    notice: Notice | None
    contact: Contact
    policies: PolicyStore
    audit: AuditTrail
    appeals: AppealService
    risk_areas: RiskAreaService
    policy_admin: PolicyService
    dashboard: DashboardService
    feeds: FeedService
    travel: TravelService
    console: ConsoleUserService


def wire(adapters: Adapters, settings: ServiceSettings) -> Services:
    """The services on these adapters. Pure: builds objects, does no I/O."""
    stores, clock = adapters.stores, adapters.clock
    directory = PersonDirectory(stores.persons, adapters.vault)
    risk_table = RiskTable(adapters.risk_areas)
    colors = ColorRecorder(adapters.policies, stores.history, settings.retention_days, adapters.outbox,
                           adapters.counters, lambda city: risk_table.level_of_city(city) is not None)
    issuer = CodeIssuer(adapters.signer, adapters.verifier, adapters.code_ids, settings.issuer, settings.code_ttl)
    answers = AnswerCache(settings.code_cache, adapters.policies, risk_table, adapters.signer.key_id,
                          settings.code_ttl)
    audit = AuditTrail(adapters.audit_log, settings.audit_key, clock)
    persons = PersonService(directory, stores.details, stores.links, stores.reads, clock, settings.max_family,
                            settings.notice.version if settings.notice else None,
                            lambda phone_hash: travel.visits(phone_hash))
    marking = MarkingService(directory, stores.facts, stores.reads, colors, clock, audit)
    appeals = AppealService(adapters.appeals, persons, stores.reads, marking, audit, clock)
    feeds = FeedService(adapters.feeds, adapters.seen, marking, audit, clock)
    risk_areas = RiskAreaService(adapters.risk_areas, audit, clock, risk_table)
    travel = TravelService(adapters.sms_codes, adapters.travel_tokens, adapters.stays, adapters.vault, adapters.sms,
                           risk_areas, settings.travel_policy or shipped_travel_policy(), feeds, audit, clock,
                           settings.travel_token_ttl, settings.travel_retired)
    return Services(
        sessions=SessionService(adapters.platforms, stores.sessions, settings.session_ttl),
        credentials=CredentialService(stores.credentials, clock, settings.credential_cache_seconds),
        persons=persons,
        codes=HealthCodeService(stores.reads, stores.history, persons, directory, colors, issuer, clock,
                                adapters.counters, answers),
        marking=marking,
        colors=colors,
        notifications=NotificationService(adapters.outbox, directory, stores.links, stores.history,
                                          adapters.notifiers, colors),
        keys=adapters.keys,
        qr=adapters.qr,
        store=adapters.store,
        notice=settings.notice,
        contact=settings.contact,
        policies=adapters.policies,
        audit=audit,
        appeals=appeals,
        risk_areas=risk_areas,
        policy_admin=PolicyService(adapters.policies, audit),
        dashboard=DashboardService(adapters.counters, appeals, marking, clock),
        feeds=feeds,
        travel=travel,
        console=ConsoleUserService(adapters.console_users, adapters.console_sessions, adapters.passwords, clock,
                                   audit, settings.console_session_ttl),
    )
