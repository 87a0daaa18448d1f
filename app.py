"""Composition root: create_app(config) reads configuration, builds the adapters, wires the core."""
from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import redis
from flask import Flask, send_from_directory
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from adapters.pii import AesGcmVault, derive_key
from adapters.platforms.dev import DevPlatform
from adapters.signing.codeid import AesCodeIdCipher
from adapters.signing.cose import CoseCodec
from adapters.signing.keyring import RedisKeyRing
from adapters.store.durability import NonDurableStore, refuse_non_durable
from adapters.store.embedded import EmbeddedRedis
from adapters.store.persons import RedisPersonStore
from adapters.store.tokens import RedisTokenStore
from blueprints import authority, checkpoint, citizen, metrics, ops, pages
from blueprints.errors import STORE_ERRORS, HealthCodeApi, register_error_handlers
from blueprints.headers import secure_headers
from core.accounts import CredentialService, SessionService
from core.clock import SystemClock
from core.health_codes import HealthCodeService
from core.marking import MarkingService
from core.persons import PersonService
from core.policy import load_policy

ROOT = Path(__file__).resolve().parent
# Versioned prefix of every QR text: China health code, format 1 (not EU DCC's "HC1:").
QR_PREFIX = "CNHC1:"

# Every setting, its default, and how to read it from a HEALTHCODE_* environment variable.
DEFAULTS: dict[str, Any] = {
    "HEALTHCODE_ENV": "development",
    "HEALTHCODE_REDIS_URL": "",
    "HEALTHCODE_DATA_DIR": "",
    "HEALTHCODE_SECRET_KEY": "",
    "HEALTHCODE_ISSUER": "HCDEV",
    "HEALTHCODE_CODE_TTL": 60,
    "HEALTHCODE_SESSION_TTL": 7200,
    "HEALTHCODE_POLICY_FILE": str(ROOT / "policies" / "health-code-policy.json"),
    "HEALTHCODE_HISTORY_RETENTION_DAYS": 30,
    "HEALTHCODE_MAX_FAMILY": 5,
    "HEALTHCODE_DEV_LOGIN": None,
    "HEALTHCODE_KEY_REFRESH_SECONDS": 1.0,
    "HEALTHCODE_CREDENTIAL_CACHE_SECONDS": 5.0,
    "HEALTHCODE_LOG_LEVEL": "INFO",
    "HEALTHCODE_ALLOW_NON_DURABLE_STORE": False,
}
ENVIRONMENTS = ("development", "test", "production")
# Plausible bounds: a value outside them is a typo or a mistake (an endless credential cache
# would never see a revocation; a code lifetime of 0 shows codes that are already expired).
RANGES: dict[str, tuple[float, float]] = {
    "HEALTHCODE_CODE_TTL": (5, 86_400),
    "HEALTHCODE_SESSION_TTL": (60, 30 * 86_400),
    "HEALTHCODE_HISTORY_RETENTION_DAYS": (1, 3_650),
    "HEALTHCODE_MAX_FAMILY": (0, 50),
    "HEALTHCODE_KEY_REFRESH_SECONDS": (0, 3_600),
    "HEALTHCODE_CREDENTIAL_CACHE_SECONDS": (0, 300),
}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
log = logging.getLogger("healthcode")


def _from_env(name: str, default: Any) -> Any:
    """The variable read as the type of its default: bool, int (whole seconds, counts), float, str."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    if isinstance(default, bool) or name == "HEALTHCODE_DEV_LOGIN":
        value = raw.strip().lower()
        if value not in TRUE + FALSE:
            raise RuntimeError(f"{name} must be one of {', '.join(TRUE + FALSE)}, not {raw!r}")
        return value in TRUE
    if isinstance(default, int | float):
        kind = type(default)
        try:
            return kind(raw.strip())
        except ValueError:
            raise RuntimeError(f"{name} must be {'an integer' if kind is int else 'a number'}, not {raw!r}") from None
    return raw


def _log_level(value: Any) -> int | str:
    """HEALTHCODE_LOG_LEVEL in any case (debug, Info, WARNING), or a logging level number."""
    if isinstance(value, int):
        return value
    level = str(value).strip().upper()
    if level not in LOG_LEVELS:
        raise RuntimeError(f"HEALTHCODE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (any case)")
    return level


@dataclass
class Services:
    """What the blueprints reach through current_app.extensions["healthcode"]."""

    redis: redis.Redis
    embedded: EmbeddedRedis | None
    keyring: RedisKeyRing
    sessions: SessionService
    credentials: CredentialService
    persons: PersonService
    codes: HealthCodeService
    marking: MarkingService


def _secret(config: Mapping[str, Any], instance: Path) -> bytes:
    """The server secret all keys derive from; in development, kept in the instance folder."""
    if config["HEALTHCODE_SECRET_KEY"]:
        secret = str(config["HEALTHCODE_SECRET_KEY"]).encode()
        if len(secret) < 32:
            raise RuntimeError("HEALTHCODE_SECRET_KEY must be at least 32 characters")
        return secret
    if config["HEALTHCODE_ENV"] == "production":
        raise RuntimeError("HEALTHCODE_SECRET_KEY is required when HEALTHCODE_ENV=production")
    path = instance / "secret.key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def _redis(config: Mapping[str, Any], instance: Path) -> tuple[redis.Redis, EmbeddedRedis | None]:
    """The one store client: the server at HEALTHCODE_REDIS_URL, or an embedded redis-server."""
    embedded = None
    url = config["HEALTHCODE_REDIS_URL"]
    if not url:
        embedded = EmbeddedRedis(config["HEALTHCODE_DATA_DIR"] or instance / "redis")
        url = embedded.start()
    options: dict[str, Any] = {}
    if config["HEALTHCODE_ENV"] == "production" and not config["HEALTHCODE_ALLOW_NON_DURABLE_STORE"]:
        # Checked on every new connection, so also when Redis was down at start-up (DESIGN §7).
        options["redis_connect_func"] = refuse_non_durable
    # Few, quick retries: when the store is down, callers get 503 store_unavailable at once
    # instead of waiting out redis-py's default ten retries.
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        **options,
    )
    return client, embedded


def _open_store(services: Services) -> None:
    """Reach the store once at start-up: refuse a non-durable one, but start while it is down.

    When Redis is unreachable the app starts anyway: API calls answer 503 store_unavailable
    until it is back, the durability check runs on the first connection that succeeds, and the
    key ring creates its first key on first use.
    """
    try:
        services.keyring.ensure_active_key()
    except NonDurableStore as exc:
        raise RuntimeError(str(exc)) from None
    except STORE_ERRORS as exc:
        # The type only: the message can carry the store's address.
        log.warning("store unavailable at start-up (%s); starting anyway", type(exc).__name__)


def build_services(config: Mapping[str, Any], instance: Path) -> Services:
    secret = _secret(config, instance)
    client, embedded = _redis(config, instance)
    clock = SystemClock()
    vault = AesGcmVault(secret)
    tokens = RedisTokenStore(client)
    store = RedisPersonStore(client)
    policy = load_policy(json.loads(Path(config["HEALTHCODE_POLICY_FILE"]).read_text(encoding="utf-8")))
    keyring = RedisKeyRing(
        client,
        derive_key(secret, "signing-key-wrap"),
        config["HEALTHCODE_ISSUER"],
        refresh_seconds=config["HEALTHCODE_KEY_REFRESH_SECONDS"],
    )
    codec = CoseCodec(keyring, prefix=QR_PREFIX)
    platforms = {}
    if config["HEALTHCODE_DEV_LOGIN"]:
        platforms["dev"] = DevPlatform()
    persons = PersonService(store, vault, clock, max_family=config["HEALTHCODE_MAX_FAMILY"])
    codes = HealthCodeService(
        store,
        persons,
        policy,
        signer=codec,
        verifier=codec,
        code_ids=AesCodeIdCipher(derive_key(secret, "code-id")),
        clock=clock,
        issuer=config["HEALTHCODE_ISSUER"],
        code_ttl=config["HEALTHCODE_CODE_TTL"],
        retention_days=config["HEALTHCODE_HISTORY_RETENTION_DAYS"],
    )
    return Services(
        redis=client,
        embedded=embedded,
        keyring=keyring,
        sessions=SessionService(platforms, tokens, config["HEALTHCODE_SESSION_TTL"]),
        credentials=CredentialService(tokens, clock, config["HEALTHCODE_CREDENTIAL_CACHE_SECONDS"]),
        persons=persons,
        codes=codes,
        marking=MarkingService(store, vault, codes, clock),
    )


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the service: defaults, then HEALTHCODE_* environment variables, then `config`."""
    app = Flask(__name__, instance_relative_config=True)
    settings = {name: _from_env(name, default) for name, default in DEFAULTS.items()}
    settings.update(config or {})
    if settings["HEALTHCODE_ENV"] not in ENVIRONMENTS:
        # A typo such as "prod" must not quietly run with development defaults (dev login on).
        raise RuntimeError(f"HEALTHCODE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if settings["HEALTHCODE_DEV_LOGIN"] is None:
        settings["HEALTHCODE_DEV_LOGIN"] = settings["HEALTHCODE_ENV"] != "production"
    if settings["HEALTHCODE_ENV"] == "production" and settings["HEALTHCODE_DEV_LOGIN"]:
        raise RuntimeError("the dev login platform cannot be enabled in production")
    for name, (low, high) in RANGES.items():
        if not low <= settings[name] <= high:  # also refuses nan
            raise RuntimeError(f"{name} must be between {low:g} and {high:g}, not {settings[name]!r}")
    if not 1 <= len(settings["HEALTHCODE_ISSUER"]) <= 8 or not settings["HEALTHCODE_ISSUER"].isascii():
        raise RuntimeError("HEALTHCODE_ISSUER must be 1–8 ASCII characters (it goes into every QR code)")
    app.config.update(settings)
    app.config.update(
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=1 << 20,
        API_TITLE="HealthCode",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    logging.basicConfig(level=_log_level(settings["HEALTHCODE_LOG_LEVEL"]))

    services = build_services(app.config, Path(app.instance_path))
    app.extensions["healthcode"] = services
    _open_store(services)

    api = HealthCodeApi(app, spec_kwargs={"info": {"description": "健康码 / 通信行程卡 backend. See API.md."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for blueprint in (citizen.blp, checkpoint.blp, authority.blp):
        api.register_blueprint(blueprint)
    app.register_blueprint(ops.blp)
    app.register_blueprint(metrics.blp)
    metrics.instrument(app)
    secure_headers(app)
    app.register_blueprint(pages.blp)
    pages.register_root(app)
    register_error_handlers(app)
    _register_docs_assets(app)
    _register_cli(app)
    return app


def _register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI from the swagger-ui-bundle package, so /docs works offline."""
    from swagger_ui_bundle import swagger_ui_path

    @app.get("/docs/assets/<path:filename>")
    def docs_assets(filename: str):
        return send_from_directory(swagger_ui_path, filename)


def _register_cli(app: Flask) -> None:
    @app.cli.group()
    def credentials() -> None:
        """Staff credentials (authority, checkpoint)."""

    @credentials.command("create")
    @click.option("--role", required=True, type=click.Choice(["authority", "checkpoint"]))
    @click.option("--name", required=True, help="Who or which gate holds it, e.g. 'Xicheng CDC'.")
    def create_credential(role: str, name: str) -> None:
        """Create a credential and print its token once (it is stored only as a hash)."""
        token, credential = app.extensions["healthcode"].credentials.create(role, name)
        click.echo(f"# credential {credential.id}: role={credential.role} name={credential.name}", err=True)
        click.echo(token)

    @credentials.command("list")
    def list_credentials() -> None:
        """List credentials (never their tokens)."""
        for c in app.extensions["healthcode"].credentials.list():
            click.echo(f"{c.id}\t{c.role}\t{c.name}")

    @credentials.command("revoke")
    @click.argument("credential_id")
    def revoke_credential(credential_id: str) -> None:
        """Revoke a credential by its id."""
        if not app.extensions["healthcode"].credentials.revoke(credential_id):
            raise click.ClickException(f"no credential {credential_id}")
        click.echo(f"revoked {credential_id}")

    @app.cli.group()
    def keys() -> None:
        """The code-signing key ring."""

    @keys.command("rotate")
    def rotate() -> None:
        """Make a new signing key; the old one keeps verifying until retired."""
        click.echo(app.extensions["healthcode"].keyring.rotate())

    @keys.command("retire")
    @click.argument("kid")
    def retire(kid: str) -> None:
        """Retire a verify-only key: codes signed with it stop verifying."""
        try:
            app.extensions["healthcode"].keyring.retire(kid)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"retired {kid}")

    @keys.command("list")
    def list_keys() -> None:
        """Key ids, status and dates."""
        for key in app.extensions["healthcode"].keyring.keys():
            click.echo(json.dumps(key, ensure_ascii=False))
