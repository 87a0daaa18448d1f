"""The platforms file (HEALTHCODE_PLATFORMS_FILE, TOML): which superapps and apps are enabled.

Every value may be given inline (`secret = "…"`), from an environment variable (`secret_env =
"WX_SECRET"`) or from a file (`secret_file = "/run/secrets/wx"`, e.g. a mounted secret), so
secrets need not sit in the file itself. See docs/platforms.example.toml.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import redis

from adapters.platforms.alipay import DEFAULT_GATEWAY, AlipayApp, AlipayPlatform
from adapters.platforms.gov import GovConfig, GovPlatform
from adapters.platforms.state import AccountState, ReplayGuard
from adapters.platforms.wechat import WeChatApp, WeChatPlatform
from core.platforms import AccountIds
from core.ports import Notifier, PlatformAdapter


class PlatformsFileError(ValueError):
    """The platforms file cannot be used; the message says where."""


@dataclass(frozen=True)
class Platforms:
    adapters: dict[str, PlatformAdapter]
    notifiers: tuple[Notifier, ...]


def _value(section: Mapping[str, Any], name: str, where: str, required: bool, environ: Mapping[str, str]) -> Any:
    """`name`, `name_env` or `name_file` of a section: exactly one of them, or none if optional."""
    given = [key for key in (name, f"{name}_env", f"{name}_file") if key in section]
    if len(given) > 1:
        raise PlatformsFileError(f"{where}: give one of {', '.join(given)}")
    if not given:
        if required:
            raise PlatformsFileError(f"{where}: {name} is required (or {name}_env, {name}_file)")
        return None
    key = given[0]
    if key.endswith("_env"):
        if section[key] not in environ:
            raise PlatformsFileError(f"{where}: environment variable {section[key]} ({key}) is not set")
        return environ[section[key]]
    if key.endswith("_file"):
        try:
            return Path(section[key]).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise PlatformsFileError(f"{where}: cannot read {key} ({exc.strerror})") from None
    return section[key]


def _build(cls: type, section: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> Any:
    """An instance of the dataclass `cls` from a section (each field by value, _env or _file)."""
    names = {f.name for f in fields(cls)}
    allowed = {key for name in names for key in (name, f"{name}_env", f"{name}_file")}
    unknown = sorted(set(section) - allowed)
    if unknown:
        raise PlatformsFileError(f"{where}: unknown keys {', '.join(unknown)}")
    values = {}
    for f in fields(cls):
        value = _value(section, f.name, where, _is_required(f), environ)
        if value is not None:
            values[f.name] = tuple(value) if isinstance(value, list) else value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise PlatformsFileError(f"{where}: {exc}") from None


def _is_required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _apps(doc: Mapping[str, Any], platform: str, cls: type, environ: Mapping[str, str],
          options: tuple[str, ...]) -> list[Any]:
    unknown = sorted(set(doc) - {"apps", *options})
    if unknown:
        raise PlatformsFileError(f"[{platform}]: unknown keys {', '.join(unknown)}")
    apps = doc.get("apps")
    if not isinstance(apps, list) or not apps:
        raise PlatformsFileError(f"[{platform}]: needs at least one [[{platform}.apps]]")
    return [_build(cls, app, f"[[{platform}.apps]] #{n + 1}", environ) for n, app in enumerate(apps)]


def load_platforms(path: str, *, client: redis.Redis, state_key: bytes, ids: AccountIds, session_ttl: int,
                   environ: Mapping[str, str] | None = None) -> Platforms:
    """The adapters of the platforms file, on the service's Redis (tokens, state, replay guard)."""
    environ = os.environ if environ is None else environ
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PlatformsFileError(f"cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlatformsFileError(f"not TOML: {exc}") from None
    unknown = sorted(set(doc) - {"wechat", "alipay", "gov"})
    if unknown:
        raise PlatformsFileError(f"unknown platforms {', '.join(unknown)} (wechat, alipay, gov)")
    state, guard = AccountState(client, state_key), ReplayGuard(client)
    adapters: dict[str, PlatformAdapter] = {}
    notifiers: list[Notifier] = []
    if "wechat" in doc:
        section = doc["wechat"]
        apps = _apps(section, "wechat", WeChatApp, environ, ("api_base", "timeout"))
        wechat = WeChatPlatform(
            apps, ids=ids, state=state, guard=guard, redis=client, session_ttl=session_ttl,
            api_base=section.get("api_base", "https://api.weixin.qq.com/"), timeout=float(section.get("timeout", 5)))
        adapters["wechat"], notifiers = wechat, [*notifiers, wechat]
    if "alipay" in doc:
        section = doc["alipay"]
        alipay = AlipayPlatform(
            _apps(section, "alipay", AlipayApp, environ, ("gateway", "timeout")), ids, state, guard,
            gateway=section.get("gateway", DEFAULT_GATEWAY), timeout=float(section.get("timeout", 10)))
        adapters["alipay"], notifiers = alipay, [*notifiers, alipay]
    if "gov" in doc:
        section = dict(doc["gov"])
        timeout = float(section.pop("timeout", 10))
        config = _build(GovConfig, section, "[gov]", environ)
        adapters["gov"] = GovPlatform(config, ids, state, timeout, claims_ttl=max(7_200, session_ttl))
        notifiers = [*notifiers, adapters["gov"]]  # type: ignore[list-item]
    return Platforms(adapters, tuple(notifiers))
