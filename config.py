"""Settings: every HEALTHCODE_* variable, parsed and checked once into a frozen dataclass.

create_app(config) takes the same names as overrides (tests pass them), so a setting is read
in one place and reaches the code as a typed field, never as a string key.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
ENVIRONMENTS = ("development", "test", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
PREFIX = "HEALTHCODE_"


class SettingsError(RuntimeError):
    """A setting that does not parse or is out of bounds; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """The service's configuration. Field `x` is read from HEALTHCODE_X."""

    env: str = "development"
    redis_url: str = ""
    redis_mode: str = "standalone"  # standalone | cluster (HEALTHCODE_REDIS_URL names any node)
    # Must-survive writes are acknowledged once this many replicas have them (WAIT on the write's
    # connection); None: 1 in cluster mode, 0 standalone (the embedded server has no replica).
    redis_wait_replicas: int | None = None
    redis_wait_timeout_ms: int = 500
    data_dir: str = ""
    secret_key: str = ""
    issuer: str = "HCDEV"
    code_ttl: int = 60
    session_ttl: int = 7200
    policy_file: str = str(ROOT / "policies" / "health-code-policy.json")
    history_retention_days: int = 30
    max_family: int = 5
    dev_login: bool | None = None  # default: on unless production
    key_refresh_seconds: float = 1.0
    credential_cache_seconds: float = 5.0
    log_level: str = "INFO"
    allow_non_durable_store: bool = False
    platforms_file: str = ""  # TOML: the WeChat, Alipay and gov apps (docs/platforms.example.toml)
    notice_file: str = str(ROOT / "policies" / "notice.json")
    hotline: str = "12345"  # shown on yellow and red codes: whom to call
    office: str = "所在社区（村）居委会或当地卫生健康部门"  # and where to go
    travel_policy_file: str = str(ROOT / "policies" / "travel-card-policy.json")
    travel_window_days: int = 0  # 0: the travel policy's (14; 7 from 2022-07-08)
    travel_star: bool | None = None  # None: the travel policy's (the * was removed on 2022-06-29)
    travel_retired: bool = False  # the travel card was retired on 2022-12-13: endpoints answer 410
    travel_token_ttl: int = 1800
    fast_paths: bool = True  # the health-code read answered before Flask (blueprints/hot.py); 0: through Flask
    # The ID-number and phone indexes live in 2**index_bits bucket hashes (adapters/store/layout.py):
    # about 30-100 persons a bucket is the sweet spot; fixed once the store holds data (migrate to change).
    index_bits: int = 16
    code_cache: bool = True  # reuse a signed code while nothing it was built from changed; 0: sign every read
    # A refresh's reads kept in each worker thread, exact by Redis client tracking (adapters/store/near.py);
    # 0: every refresh reads them from Redis.
    near_cache: bool = True
    sms_provider: str = ""  # console (local use only) | tencent | none; default: console, none in production
    # Tencent Cloud SMS (adapters/sms/tencent.py): the API key, the SMS app, its approved signature
    # and verification-code template ("…{1}…{2}分钟内有效").
    tencent_sms_secret_id: str = ""
    tencent_sms_secret_key: str = ""
    tencent_sms_sdk_app_id: str = ""
    tencent_sms_sign_name: str = ""
    tencent_sms_template_id: str = ""
    tencent_sms_region: str = "ap-guangzhou"
    tencent_sms_endpoint: str = "sms.tencentcloudapi.com"
    tencent_sms_protocol: str = "https"
    tencent_sms_timeout: int = 5
    outbox_stale_seconds: int = 60  # a notice a worker took this long ago and never finished: it died
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For is believed
    console_session_ttl: int = 8 * 3600  # a console login lasts this long from the login, used or not
    console_cookie_secure: bool | None = None  # default: on unless development or test (plain-HTTP local use)
    # Rate limits (blueprints/limits.py): "amount/period", several joined by ";".
    rate_limit_scale: int = 1
    rate_login_ip: str = "20/minute;200/hour"
    rate_login_platform: str = "3000/minute"
    rate_apply_account: str = "10/hour;30/day"
    rate_apply_ip: str = "30/hour;300/day"
    rate_verify_account: str = "5/10minutes;20/day"
    rate_verify_ip: str = "30/hour;300/day"
    rate_oracle_account: str = "5/hour;10/day"
    rate_oracle_ip: str = "20/hour;50/day"
    rate_scan_credential: str = "20/second;30000/day"
    rate_bearer_failure_ip: str = "30/minute;300/hour"
    rate_sms_phone: str = "1/minute;5/hour;10/day"
    rate_sms_ip: str = "20/hour;100/day"
    rate_travel_session_ip: str = "30/hour;200/day"
    rate_feed: str = "600/minute"
    # Console logins: failed ones only (an office behind one NAT logs in at 9:00), per IP and per
    # username; and the login form itself (each view keeps a short session for its CSRF secret).
    rate_console_login_ip: str = "10/minute;100/hour"
    rate_console_login_user: str = "5/minute;30/hour"
    rate_console_form_ip: str = "60/minute;600/hour"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def dev_login_enabled(self) -> bool:
        return bool(self.dev_login)


# Plausible bounds: a value outside them is a typo or a mistake (an endless credential cache
# would never see a revocation; a code lifetime of 0 shows codes that are already expired).
BOUNDS: dict[str, tuple[float, float]] = {
    "code_ttl": (5, 86_400),
    "session_ttl": (60, 30 * 86_400),
    "history_retention_days": (1, 3_650),
    "max_family": (0, 50),
    "key_refresh_seconds": (0, 3_600),
    "credential_cache_seconds": (0, 300),
    "trusted_proxies": (0, 10),
    "outbox_stale_seconds": (1, 3_600),
    "travel_window_days": (0, 30),
    "travel_token_ttl": (60, 86_400),
    "tencent_sms_timeout": (1, 60),
    "rate_limit_scale": (1, 100_000),
    "console_session_ttl": (300, 86_400),
    "redis_wait_replicas": (0, 5),
    "redis_wait_timeout_ms": (10, 10_000),
    "index_bits": (8, 20),
}
REDIS_MODES = ("standalone", "cluster")


def variable(name: str) -> str:
    """The environment variable of a settings field."""
    return PREFIX + name.upper()


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in TRUE + FALSE:
        raise SettingsError(f"{variable(name)} must be one of {', '.join(TRUE + FALSE)}, not {raw!r}")
    return value in TRUE


def _parse_number(kind: Callable[[str], Any], what: str) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            return kind(raw.strip())
        except ValueError:
            raise SettingsError(f"{variable(name)} must be {what}, not {raw!r}") from None
    return parse


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "bool": _parse_bool,
    "bool | None": _parse_bool,
    "int": _parse_number(int, "an integer"),
    "int | None": _parse_number(int, "an integer"),
    "float": _parse_number(float, "a number"),
    "str": lambda name, raw: raw,
}


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then HEALTHCODE_* environment variables, then `overrides` (same names; typed
    values, or text read as the environment's); SettingsError names the first variable that is
    wrong."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    values: dict[str, Any] = {}
    for field in fields(Settings):
        name = variable(field.name)
        if name in overrides:
            value = overrides[name]
            # Text for a typed setting is read as the environment's would be ("0" is off).
            if isinstance(value, str) and str(field.type) not in ("str",):
                value = _PARSERS[str(field.type)](field.name, value)
            values[field.name] = value
        elif name in environ:
            values[field.name] = _PARSERS[str(field.type)](field.name, environ[name])
    unknown = sorted(k for k in overrides if k.startswith(PREFIX) and k[len(PREFIX):].lower() not in values)
    if unknown:
        raise SettingsError(f"unknown setting {unknown[0]}")
    return _checked(Settings(**values))


def _check_limit(name: str, value: str) -> None:
    from limits import parse_many

    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise SettingsError(f"{variable(name)} must be limits such as '20/minute;200/hour', not {value!r}")


def _checked(settings: Settings) -> Settings:
    if settings.env not in ENVIRONMENTS:
        # A typo such as "prod" must not quietly run with development defaults (dev login on).
        raise SettingsError(f"HEALTHCODE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if settings.redis_mode not in REDIS_MODES:
        raise SettingsError(f"HEALTHCODE_REDIS_MODE must be one of {', '.join(REDIS_MODES)}")
    if settings.redis_mode == "cluster" and not settings.redis_url:
        # The embedded server is one node: a cluster is always the operator's own.
        raise SettingsError("HEALTHCODE_REDIS_MODE=cluster needs HEALTHCODE_REDIS_URL (any node of the cluster)")
    wait_replicas = settings.redis_wait_replicas
    if wait_replicas is None:
        wait_replicas = 1 if settings.redis_mode == "cluster" else 0
    dev_login = settings.dev_login
    if dev_login is None:
        dev_login = not settings.production
    sms = settings.sms_provider or ("none" if settings.production else "console")
    if sms not in ("console", "tencent", "none"):
        raise SettingsError("HEALTHCODE_SMS_PROVIDER must be console, tencent or none")
    if settings.production and sms == "console":
        raise SettingsError("HEALTHCODE_SMS_PROVIDER=console prints codes: not in production")
    if sms == "tencent":
        for name in ("tencent_sms_secret_id", "tencent_sms_secret_key", "tencent_sms_sdk_app_id",
                     "tencent_sms_sign_name", "tencent_sms_template_id"):
            if not getattr(settings, name):
                raise SettingsError(f"HEALTHCODE_SMS_PROVIDER=tencent needs {variable(name)}")
        if settings.tencent_sms_protocol not in ("https", "http"):
            raise SettingsError("HEALTHCODE_TENCENT_SMS_PROTOCOL must be https or http")
        if settings.production and settings.tencent_sms_protocol != "https":
            raise SettingsError("HEALTHCODE_TENCENT_SMS_PROTOCOL=http sends the API signature in clear: "
                                "not in production")
    if settings.production and dev_login:
        raise SettingsError("the dev login platform cannot be enabled in production (HEALTHCODE_DEV_LOGIN)")
    cookie_secure = settings.console_cookie_secure
    if cookie_secure is None:
        cookie_secure = settings.production
    if settings.production and not cookie_secure:
        # Off is for plain-HTTP local use only: a console cookie sent over HTTP can be read on the way.
        raise SettingsError("HEALTHCODE_CONSOLE_COOKIE_SECURE cannot be off in production")
    for name, (low, high) in BOUNDS.items():
        value = wait_replicas if name == "redis_wait_replicas" else getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) \
                or not low <= value <= high:
            raise SettingsError(f"{variable(name)} must be between {low:g} and {high:g}, not {value!r}")
    if not 1 <= len(settings.issuer) <= 8 or not settings.issuer.isascii():
        raise SettingsError("HEALTHCODE_ISSUER must be 1–8 ASCII characters (it goes into every QR code)")
    for field in fields(Settings):
        if field.name.startswith("rate_") and field.name != "rate_limit_scale":
            _check_limit(field.name, getattr(settings, field.name))
    level = settings.log_level
    if isinstance(level, str):
        level = level.strip().upper()
        if level not in LOG_LEVELS:
            raise SettingsError(f"HEALTHCODE_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)} (any case)")
    secret = settings.secret_key
    if secret and len(secret) < 32:
        raise SettingsError("HEALTHCODE_SECRET_KEY must be at least 32 characters")
    return Settings(**{**{f.name: getattr(settings, f.name) for f in fields(Settings)},
                       "dev_login": dev_login, "log_level": level, "sms_provider": sms,
                       "redis_wait_replicas": wait_replicas,
                       "console_cookie_secure": cookie_secure})
