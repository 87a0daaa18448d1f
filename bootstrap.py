"""Composition root: the server secret, the one Redis client, the real adapters, wired into the core."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from adapters.passwords import Argon2Passwords
from adapters.pii import AesGcmVault, HmacAccountIds, derive_key
from adapters.platforms.config import PlatformsFileError, load_platforms
from adapters.platforms.dev import DevPlatform
from adapters.platforms.state import ReplayGuard
from adapters.signing.codeid import AesCodeIdCipher
from adapters.signing.cose import CoseCodec
from adapters.signing.keyring import RedisKeyRing
from adapters.signing.qr_image import QrImages
from adapters.sms.console import ConsoleSms
from adapters.sms.none import NoSms
from adapters.store import redis_stores
from adapters.store.authority import RedisAppeals, RedisAuditLog, RedisRiskAreas
from adapters.store.cluster import DeferredCluster
from adapters.store.console import RedisConsoleSessions, RedisConsoleUsers
from adapters.store.durability import NonDurableStore, check_durable, refuse_non_durable
from adapters.store.embedded import EmbeddedRedis
from adapters.store.feeds import RedisFeedStore
from adapters.store.health import STORE_ERRORS, RedisStoreHealth
from adapters.store.layout import IndexLayout, LayoutMismatch
from adapters.store.outbox import RedisOutbox
from adapters.store.policy import RedisPolicyStore
from adapters.store.replication import acknowledging, connection_class
from adapters.store.stats import RedisCounters
from adapters.store.travel import RedisSmsCodes, RedisStays, RedisTravelTokens
from config import Settings, SettingsError
from core.clock import SystemClock
from core.notice import load_notice
from core.policy import PolicyError, load_policy
from core.ports import Notifier, PlatformAdapter, SmsSender
from core.stays import TravelPolicy, load_travel_policy
from core.wiring import Adapters, Contact, Services, ServiceSettings, wire

# Versioned prefix of every QR text: China health code, format 1 (not EU DCC's "HC1:").
QR_PREFIX = "CNHC1:"
log = logging.getLogger("healthcode")
T = TypeVar("T")


@dataclass(frozen=True)
class Runtime:
    """What the process holds besides the services: its settings and its store connection."""

    settings: Settings
    store: RedisStoreHealth
    policy_file_version: str
    form_key: bytes = b""  # signs the console's CSRF tokens (derived from the server secret)
    layout: IndexLayout | None = None  # the global indexes' buckets, checked against the store's


def secret(settings: Settings, instance: Path) -> bytes:
    """The server secret all keys derive from; in development, kept in the instance folder."""
    if settings.secret_key:
        return settings.secret_key.encode()
    if settings.production:
        raise SettingsError("HEALTHCODE_SECRET_KEY is required when HEALTHCODE_ENV=production")
    path = instance / "secret.key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def redis_client(settings: Settings, instance: Path) -> tuple[redis.Redis, EmbeddedRedis | None]:
    """The one store client: the server (or the cluster) at HEALTHCODE_REDIS_URL, or an embedded
    redis-server."""
    embedded = None
    url = settings.redis_url
    if not url:
        embedded = EmbeddedRedis(settings.data_dir or instance / "redis")
        url = embedded.start()
    cluster = settings.redis_mode == "cluster"
    options: dict[str, Any] = {}
    if settings.production and not settings.allow_non_durable_store:
        # Checked on every new connection, so also when Redis was down at start-up (DESIGN §7).
        # The cluster client runs its own handshake first, then calls this.
        options["redis_connect_func"] = check_durable if cluster else refuse_non_durable
    if settings.redis_wait_replicas:
        options["connection_class"] = connection_class(url)  # WAIT after must-survive writes
    # Few, quick retries: when the store is down, callers get 503 store_unavailable at once
    # instead of waiting out redis-py's default ten retries.
    retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), 2)
    if cluster:
        # Any node names the cluster; redis-py reads the slot table from it and sends each
        # command to its slot's master (never to a replica: reads see their own writes).
        return _cluster(url, retry, options), None
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=retry,
        **options,
    )
    return client, embedded


def _cluster(url: str, retry: Retry, options: dict[str, Any]) -> redis.Redis:
    def build() -> RedisCluster:
        return RedisCluster.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30,
                                     retry=retry, **options)

    # Built on first use, so the app starts while the cluster is down (adapters/store/cluster.py).
    # The stores are typed against redis.Redis; RedisCluster has the same commands (and refuses,
    # at run time, anything that would span slots).
    return DeferredCluster(build)  # type: ignore[return-value]


def limiter_storage(settings: Settings, client: redis.Redis) -> tuple[str, dict[str, Any]]:
    """Where the rate limiter (Flask-Limiter, `limits`) counts: the service's own Redis.

    Through the same connection pool, or the same cluster client (so a production store is
    checked for durability once, and an outage is the same 503). On a cluster, each window is
    one key, so each of the limiter's scripts stays in one slot.
    """
    if settings.redis_mode == "cluster":
        return "healthcode+cluster://", {"client": client}  # adapters/store/cluster.SharedClusterStorage
    return "redis://", {"connection_pool": client.connection_pool}


def must_survive(client: redis.Redis, settings: Settings) -> redis.Redis:
    """The client as the stores of must-survive writes use it: each write acknowledged by
    HEALTHCODE_REDIS_WAIT_REPLICAS replicas (WAIT on its connection), or 503."""
    return acknowledging(client, settings.redis_wait_replicas or 0, settings.redis_wait_timeout_ms)


def _document(variable: str, path: str, load: Callable[[Any], T]) -> T:
    try:
        return load(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, PolicyError) as exc:
        raise SettingsError(f"{variable} {path}: {exc}") from None


def service_settings(settings: Settings) -> ServiceSettings:
    policy = _document("HEALTHCODE_POLICY_FILE", settings.policy_file, load_policy)
    policy_doc = _document("HEALTHCODE_POLICY_FILE", settings.policy_file, dict)
    return ServiceSettings(
        policy_doc=policy_doc,
        policy=policy,
        issuer=settings.issuer,
        code_ttl=settings.code_ttl,
        code_cache=settings.code_cache,
        session_ttl=settings.session_ttl,
        retention_days=settings.history_retention_days,
        max_family=settings.max_family,
        credential_cache_seconds=settings.credential_cache_seconds,
        notice=_document("HEALTHCODE_NOTICE_FILE", settings.notice_file, load_notice),
        contact=Contact(settings.hotline, settings.office),
        travel_policy=_travel_policy(settings),
        travel_token_ttl=settings.travel_token_ttl,
        travel_retired=settings.travel_retired,
        console_session_ttl=settings.console_session_ttl,
    )


def _travel_policy(settings: Settings) -> TravelPolicy:
    """The travel policy file, with the window and the star as the settings say."""
    policy = _document("HEALTHCODE_TRAVEL_POLICY_FILE", settings.travel_policy_file, load_travel_policy)
    return dataclasses.replace(
        policy, window_days=settings.travel_window_days or policy.window_days,
        star=policy.star if settings.travel_star is None else settings.travel_star)


def sms_sender(settings: Settings) -> SmsSender:
    if settings.sms_provider == "console":
        return ConsoleSms()
    if settings.sms_provider == "tencent":
        from adapters.sms.tencent import TencentSms  # the SDK only where it is used

        return TencentSms(settings.tencent_sms_secret_id, settings.tencent_sms_secret_key,
                          settings.tencent_sms_sdk_app_id, settings.tencent_sms_sign_name,
                          settings.tencent_sms_template_id, region=settings.tencent_sms_region,
                          endpoint=settings.tencent_sms_endpoint, protocol=settings.tencent_sms_protocol,
                          timeout=settings.tencent_sms_timeout)
    return NoSms()


def build(settings: Settings, instance: Path) -> tuple[Services, Runtime]:
    """The real adapters on one Redis client, wired; nothing sent to the store yet."""
    key = secret(settings, instance)
    core_settings = replace(service_settings(settings), audit_key=derive_key(key, "audit-chain"))
    client, embedded = redis_client(settings, instance)
    # Scans, sessions, history, counters, SMS codes, travel data and caches go on `client`;
    # what must survive a failover (persons, links, facts, appeals, the audit trail, the tables
    # and keys the authorities keep) on `durable` (docs/architecture.md, Redis Cluster).
    durable = must_survive(client, settings)
    keyring = RedisKeyRing(durable, derive_key(key, "signing-key-wrap"), settings.issuer,
                           refresh_seconds=settings.key_refresh_seconds)
    codec = CoseCodec(keyring, prefix=QR_PREFIX)
    ids = HmacAccountIds(key)
    platforms: dict[str, PlatformAdapter] = {}
    notifiers: tuple[Notifier, ...] = ()
    if settings.platforms_file:
        try:
            configured = load_platforms(settings.platforms_file, client=client, ids=ids,
                                        state_key=derive_key(key, "platform-state"), session_ttl=settings.session_ttl)
        except PlatformsFileError as exc:
            raise SettingsError(f"HEALTHCODE_PLATFORMS_FILE {settings.platforms_file}: {exc}") from None
        platforms.update(configured.adapters)
        notifiers = configured.notifiers
    if settings.dev_login_enabled:
        platforms["dev"] = DevPlatform(ids)
    store = RedisStoreHealth(client, embedded)
    layout = IndexLayout(client, settings.index_bits)
    adapters = Adapters(
        stores=redis_stores(client, layout, durable, settings.near_cache and settings.code_cache),
        vault=AesGcmVault(key),
        clock=SystemClock(),
        signer=codec,
        verifier=codec,
        code_ids=AesCodeIdCipher(derive_key(key, "code-id")),
        platforms=platforms,
        keys=keyring,
        qr=QrImages(),
        store=store,
        outbox=RedisOutbox(durable, stale_ms=settings.outbox_stale_seconds * 1000),
        policies=RedisPolicyStore(durable, core_settings.policy, core_settings.policy_doc),
        counters=RedisCounters(client),
        audit_log=RedisAuditLog(durable),
        appeals=RedisAppeals(durable),
        risk_areas=RedisRiskAreas(durable),
        feeds=RedisFeedStore(durable, derive_key(key, "feed-secrets")),
        seen=ReplayGuard(client),
        sms_codes=RedisSmsCodes(client),
        travel_tokens=RedisTravelTokens(client),
        stays=RedisStays(client, layout),
        sms=sms_sender(settings),
        console_users=RedisConsoleUsers(durable),
        console_sessions=RedisConsoleSessions(client),
        passwords=Argon2Passwords(),
        notifiers=notifiers,
    )
    runtime = Runtime(settings, store, core_settings.policy.version, form_key=derive_key(key, "console-csrf"),
                      layout=layout)
    return wire(adapters, core_settings), runtime


def open_store(services: Services, runtime: Runtime) -> None:
    """Reach the store once at start-up: refuse a non-durable one, but start while it is down.

    When Redis is unreachable the app starts anyway: API calls answer 503 store_unavailable
    until it is back, the durability check runs on the first connection that succeeds, and the
    key ring creates its first key on first use.
    """
    try:
        if runtime.layout is not None:
            runtime.layout.check()
        services.keys.ensure_active_key()
        in_force = services.policies.ensure_published()
        if in_force != runtime.policy_file_version:
            log.warning("the policy in force is %s; HEALTHCODE_POLICY_FILE has %s (publish it with "
                        "'flask --app app policy publish FILE')", in_force, runtime.policy_file_version)
    except (NonDurableStore, LayoutMismatch) as exc:
        raise RuntimeError(str(exc)) from None
    except STORE_ERRORS as exc:
        # The type only: the message can carry the store's address.
        log.warning("store unavailable at start-up (%s); starting anyway", type(exc).__name__)
