"""The platform adapters wired to their simulators over real HTTP, on the test Redis."""
from __future__ import annotations

import atexit
import base64
import logging
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from functools import cache

import pytest

from adapters.pii import HmacAccountIds
from adapters.platforms.alipay import AlipayApp, AlipayPlatform
from adapters.platforms.gov import GovConfig, GovPlatform
from adapters.platforms.state import AccountState, ReplayGuard
from tests.sims.alipay import AlipaySimulator, KeyPair
from tests.sims.oidc import OidcProvider, SigningKey
from tests.sims.server import Handler, serve

SECRET = b"test-secret-key-0123456789abcdef0123"
APP_ID = "2021000000000001"
OPEN_APP_ID = "2021000000000002"  # a new app: its logins carry open_id only
# Personal data the tests use, so the log test can look for each of them.
USER_ID = "2088102000000001"
OPEN_ID = "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
NAME = "张三"
ID_NUMBER = "11010519491231002X"
MOBILE = "13800138000"
GOV_CLIENT_ID = "healthcode-gov"
GOV_SECRET = "gov-client-secret-0123456789"
GOV_SUB = "gov-user-0001"
REDIRECT_URI = "https://healthcode.example/oauth/gov"


@cache
def key(name: str) -> KeyPair:
    """RSA key pairs by role, made once per test run (2048-bit generation is slow)."""
    return KeyPair.generate()


@cache
def aes_key() -> bytes:
    return os.urandom(16)


def account_state(redis_server) -> AccountState:
    return AccountState(redis_server, bytes(range(32)))


class Switchboard:
    """One simulator server for the whole run, handing each request to the current test's
    simulator: stopping a server waits out its 0.5 s poll, once per run rather than per test."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        stack = ExitStack()
        self.url = stack.enter_context(serve(self))
        atexit.register(stack.close)

    def __call__(self, request):
        assert self.handler is not None, "a request after its test ended"
        return self.handler(request)

    @contextmanager
    def serving(self, handler: Handler) -> Iterator[str]:
        self.handler = handler
        try:
            yield self.url
        finally:
            self.handler = None


@cache
def switchboard() -> Switchboard:
    return Switchboard()


@dataclass
class AlipayWorld:
    sim: AlipaySimulator
    url: str
    platform: AlipayPlatform
    state: AccountState
    ids: HmacAccountIds

    def account_id(self, user_id: str = USER_ID, app_id: str = APP_ID) -> str:
        return self.ids.account_id("alipay", app_id, user_id)

    def login(self, user_id: str = USER_ID) -> str:
        return self.platform.login(self.sim.issue_code(user_id=user_id)).account_id


def alipay_apps(**overrides) -> list[AlipayApp]:
    apps = [
        AlipayApp(APP_ID, key("app").private_pem, key("alipay").public_pem,
                  aes_key_b64=base64.b64encode(aes_key()).decode(), notify_template_id="TPL0001",
                  notify_page="pages/code/index?person={person_id}"),
        AlipayApp(OPEN_APP_ID, key("open-app").private_pem, key("alipay").public_pem),
    ]
    if overrides:
        apps[0] = replace(apps[0], **overrides)
    return apps


@contextmanager
def alipay_world(redis_server, apps: list[AlipayApp] | None = None, timeout: float = 1.0) -> Iterator[AlipayWorld]:
    """The adapter with the SDK's gateway pointed at a simulator served on a free port."""
    sim = AlipaySimulator(alipay_key=key("alipay"), app_keys={APP_ID: key("app"), OPEN_APP_ID: key("open-app")})
    ids = HmacAccountIds(SECRET)
    state = account_state(redis_server)
    with switchboard().serving(sim) as url:
        platform = AlipayPlatform(apps or alipay_apps(), ids, state, ReplayGuard(redis_server),
                                  gateway=f"{url}/gateway.do", timeout=timeout)
        yield AlipayWorld(sim, url, platform, state, ids)


def keys(redis_server) -> set[bytes]:
    """Every key in the test database: a refused request must leave none behind."""
    return set(redis_server.scan_iter())


def assert_no_personal_data(caplog: pytest.LogCaptureFixture, *secrets: str) -> None:
    """No log record (message, arguments or traceback) holds any of `secrets`."""
    assert caplog.records, "the flow logged nothing: the check would prove nothing"
    for record in caplog.records:
        text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
        for secret in secrets:
            assert secret not in text, f"{record.name} logged personal data: {record.getMessage()!r}"


@dataclass
class GovWorld:
    provider: OidcProvider
    url: str
    platform: GovPlatform
    state: AccountState
    ids: HmacAccountIds

    def account_id(self, sub: str = GOV_SUB) -> str:
        return self.ids.account_id("gov", GOV_CLIENT_ID, sub)

    def login(self, sub: str = GOV_SUB, claims: dict | None = None, **options) -> str:
        claims = {"name": NAME, "id_card": ID_NUMBER, "phone_number": "+86" + MOBILE} if claims is None else claims
        return self.platform.login(self.provider.issue_code(sub, claims, **options)).account_id


def gov_config(url: str, **overrides) -> GovConfig:
    """A platform that issues ID tokens and names its claims name / id_card / phone_number."""
    values = dict(client_id=GOV_CLIENT_ID, client_secret=GOV_SECRET, token_endpoint=f"{url}/token",
                  userinfo_endpoint=f"{url}/userinfo", jwks_uri=f"{url}/jwks", issuer=url,
                  redirect_uri=REDIRECT_URI, name_claim="name", id_number_claim="id_card",
                  phone_claim="phone_number")
    return GovConfig(**{**values, **overrides})


@contextmanager
def gov_world(redis_server, timeout: float = 1.0, id_tokens: bool = True, **config) -> Iterator[GovWorld]:
    """The adapter against the OIDC provider simulator, its endpoints set by configuration."""
    provider = OidcProvider(GOV_CLIENT_ID, GOV_SECRET, REDIRECT_URI, [signing_key()], id_tokens=id_tokens)
    ids = HmacAccountIds(SECRET)
    state = account_state(redis_server)
    with switchboard().serving(provider) as url:
        provider.issuer = url
        platform = GovPlatform(gov_config(url, **config), ids, state, timeout=timeout)
        yield GovWorld(provider, url, platform, state, ids)


@cache
def signing_key() -> SigningKey:
    return SigningKey.generate()
