"""The government-services platform (国家政务服务平台 and the provinces' 政务服务 apps).

Its mini-program login is not publicly documented (PLATFORMS.md §C: treat it as partner-only),
so it is modelled as what such identity platforms speak: an OAuth 2.0 authorization-code login
(RFC 6749 §4.1), with OpenID Connect ID tokens when the platform issues them, through Authlib's
requests client. Endpoints and claim names are configuration (GovConfig), so a province's or
the national platform's values are filled in by configuration, not code.

The platform's login is already real-name (实名): the name and ID-number claims it returns
stand in for a face check. They are kept sealed in AccountState for `claims_ttl` (field
`gov-claims`), compared with the person's at verify_identity, and never logged. The platform
has no callbacks and no message channel.
"""
from __future__ import annotations

import hmac
import json
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.common.security import is_secure_transport
from authlib.integrations.requests_client import OAuth2Session, OAuthError

from adapters.platforms.checks import IdentityTickets, app_of, login_code
from adapters.platforms.oidc import IdTokenInvalid, JwksCache, verified_claims
from adapters.platforms.state import AccountState
from core.clock import Clock, SystemClock
from core.errors import (
    Forbidden,
    InvalidInput,
    InvalidLoginCode,
    Msg,
    NotFound,
    PlatformUnavailable,
    Unauthorized,
)
from core.identity import normalize_name
from core.platforms import AccountIds, ColorNotice, IdentityCheck, PlatformIdentity, WebhookReply, WebhookRequest

log = logging.getLogger("healthcode.platforms.gov")

CLAIMS_FIELD = "gov-claims"
# Token-endpoint error codes worth naming in a log line (RFC 6749 §5.2); others are "other".
TOKEN_ERRORS = frozenset({"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
                          "unsupported_grant_type", "invalid_scope"})


@dataclass(frozen=True)
class GovConfig:
    """One government-services client registration: its endpoints and which claims say what.

    `jwks_uri` and `issuer`: set both to verify ID tokens; without them the user's claims come
    from `userinfo_endpoint` alone (plain OAuth 2.0). `*_claim`: the claim names of the user id,
    the real name, the ID number and the phone number (None: the platform gives none).
    """

    client_id: str
    client_secret: str = field(repr=False)
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str | None
    issuer: str | None
    redirect_uri: str
    user_id_claim: str = "sub"
    name_claim: str | None = None
    id_number_claim: str | None = None
    scope: str = "openid"
    phone_claim: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_algorithms: tuple[str, ...] = ("RS256",)

    def __post_init__(self) -> None:
        if self.jwks_uri and not self.issuer:
            raise ValueError("GovConfig: an issuer is needed to verify ID tokens (jwks_uri is set)")
        if not (self.userinfo_endpoint or self.jwks_uri):
            raise ValueError("GovConfig: a userinfo_endpoint or a jwks_uri is needed to know the user")
        for url in (self.token_endpoint, self.userinfo_endpoint, self.jwks_uri):
            # HTTPS, or loopback (RFC 8252 §7.3): the client secret and the claims travel here.
            if url and not is_secure_transport(url):
                raise ValueError(f"GovConfig: {url} is not HTTPS")

    @property
    def wanted(self) -> dict[str, str]:
        """What we keep per account → the claim that holds it."""
        names = {"name": self.name_claim, "id_number": self.id_number_claim, "phone": self.phone_claim}
        return {what: claim for what, claim in names.items() if claim}


def _unavailable(step: str, exc: BaseException | str) -> PlatformUnavailable:
    # The type only: requests' messages carry URLs, Authlib's the platform's descriptions.
    log.warning("gov %s failed: %s", step, exc if isinstance(exc, str) else type(exc).__name__)
    return PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE)


class GovPlatform:
    """PlatformAdapter (and a Notifier that reaches nobody) for the government-services platform."""

    name = "gov"

    def __init__(self, config: GovConfig, ids: AccountIds, state: AccountState, timeout: float = 10.0, *,
                 clock: Clock | None = None, claims_ttl: int = 7_200, ticket_ttl: int = 1_800) -> None:
        self._config = config
        self._ids = ids
        self._state = state
        self._timeout = timeout
        self._clock = clock or SystemClock()
        self._claims_ttl = claims_ttl
        self._tickets = IdentityTickets(state, ticket_ttl)
        self._jwks = JwksCache(config.jwks_uri, timeout, self._clock) if config.jwks_uri else None

    # -- login ------------------------------------------------------------------------------

    def login(self, code: str, app_id: str | None = None) -> PlatformIdentity:
        """The authorization code → tokens → the user's claims → the account."""
        code = login_code(code, 512)
        app_of({self._config.client_id: self._config}, app_id)
        with self._session() as session:
            token = self._token(session, code)
            claims = self._claims(session, token)
        user_id = claims.get(self._config.user_id_claim)
        if isinstance(user_id, bool) or not isinstance(user_id, str | int) or str(user_id) == "":
            raise _unavailable("login", "no user id claim")
        identity = PlatformIdentity.of(self._ids, self.name, self._config.client_id, str(user_id))
        kept = {what: claims.get(claim) for what, claim in self._config.wanted.items()}
        if self._config.phone_claim:  # OIDC's phone_number_verified, or its like for another claim name
            kept["phone_verified"] = claims.get(f"{self._config.phone_claim}_verified", True)
        self._state.put(identity.account_id, CLAIMS_FIELD, json.dumps(kept), ttl=self._claims_ttl)
        return identity

    def _session(self) -> OAuth2Session:
        c = self._config
        return OAuth2Session(c.client_id, c.client_secret, token_endpoint_auth_method=c.token_endpoint_auth_method,
                             scope=c.scope, redirect_uri=c.redirect_uri, default_timeout=self._timeout)

    def _token(self, session: OAuth2Session, code: str) -> dict[str, Any]:
        try:
            return dict(session.fetch_token(self._config.token_endpoint, grant_type="authorization_code", code=code))
        except OAuthError as exc:
            error = exc.error if exc.error in TOKEN_ERRORS else "other"
            log.info("gov token refused: %s", error)
            if error == "invalid_grant":  # unknown, expired or used code (RFC 6749 §5.2)
                raise InvalidLoginCode(Msg.INVALID_LOGIN_CODE) from None
            raise PlatformUnavailable(Msg.PLATFORM_UNAVAILABLE) from None  # our registration, not the user
        except (requests.RequestException, ValueError) as exc:
            raise _unavailable("token", exc) from None

    def _claims(self, session: OAuth2Session, token: Mapping[str, Any]) -> dict[str, Any]:
        """The verified ID token's claims, completed from the userinfo endpoint when they lack one."""
        c = self._config
        claims: dict[str, Any] = {}
        id_token = token.get("id_token")
        if id_token and self._jwks is not None and c.issuer:
            try:
                claims = verified_claims(str(id_token), self._jwks, issuer=c.issuer, client_id=c.client_id,
                                         algorithms=c.id_token_algorithms, access_token=token.get("access_token"),
                                         clock=self._clock)
            except (IdTokenInvalid, requests.RequestException) as exc:
                raise _unavailable("id_token", str(exc) if isinstance(exc, IdTokenInvalid) else exc) from None
        needed = {c.user_id_claim, *c.wanted.values()}
        if c.userinfo_endpoint and (not claims or not needed <= claims.keys()):
            info = self._userinfo(session)
            if claims and info.get("sub") != claims.get("sub"):
                raise _unavailable("userinfo", "sub differs from the ID token's")  # OIDC Core §5.3.2
            claims = {**info, **claims}  # the signed token's claims win
        if not claims:
            raise _unavailable("login", "no verifiable claims")  # an unverifiable ID token only
        return claims

    def _userinfo(self, session: OAuth2Session) -> dict[str, Any]:
        try:
            response = session.get(self._config.userinfo_endpoint)
            response.raise_for_status()
            info = response.json()
        except (OAuthError, requests.RequestException, ValueError) as exc:
            raise _unavailable("userinfo", exc) from None
        if not isinstance(info, dict):
            raise _unavailable("userinfo", "not an object")
        return info

    def _kept(self, account_id: str) -> dict[str, Any]:
        sealed = self._state.get(account_id, CLAIMS_FIELD)
        if sealed is None:
            raise Unauthorized(Msg.LOGIN_REQUIRED)  # forgotten since the login: log in again
        kept: dict[str, Any] = json.loads(sealed)
        return kept

    # -- identity: the login was real-name ----------------------------------------------------

    def begin_identity_check(self, account_id: str, name: str, id_number: str) -> IdentityCheck:
        """A ticket bound to the account and person; no face check to open (url None)."""
        kept = self._kept(account_id)
        if not kept.get("name") or not kept.get("id_number"):
            log.warning("gov login carried no name or ID-number claim: no identity check")
            raise Forbidden(Msg.IDENTITY_FAILED)
        ticket = secrets.token_urlsafe(24)
        self._tickets.bind(account_id, ticket, name, id_number)
        return IdentityCheck(ticket=ticket, expires_in=self._tickets.ttl)

    def verify_identity(self, account_id: str, ticket: str, name: str, id_number: str) -> bool:
        """Whether the platform's real-name claims at login are this person's name and ID number."""
        if not self._tickets.matches(account_id, ticket, name, id_number):
            return False
        kept = self._kept(account_id)
        passed = _same_name(kept.get("name"), name) and _same_id_number(kept.get("id_number"), id_number)
        if passed:
            self._tickets.release(account_id)
        return passed

    def phone_number(self, account_id: str, proof: Mapping[str, str]) -> str:
        """The phone claim of the login (no proof to send); InvalidInput when the platform gave none."""
        kept = self._kept(account_id)
        phone = kept.get("phone")
        if not isinstance(phone, str) or not phone.strip() or kept.get("phone_verified") is not True:
            raise InvalidInput(Msg.PHONE_PROOF_INVALID)
        return phone.strip()

    # -- no callbacks, no messages ------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookReply:
        raise NotFound(Msg.NO_SUCH_WEBHOOK)

    def notify(self, account_id: str, notice: ColorNotice) -> bool:
        return False  # the platform offers us no message channel


def _same_name(claimed: Any, name: str) -> bool:
    """The same name once both are normalized as applications are (NFC, spaces, middle dots)."""
    try:
        return isinstance(claimed, str) and hmac.compare_digest(normalize_name(claimed).encode(),
                                                                normalize_name(name).encode())
    except InvalidInput:
        return False


def _same_id_number(claimed: Any, id_number: str) -> bool:
    """Exactly the same number; only the check digit's case may differ (GB 11643 writes X)."""
    return isinstance(claimed, str) and hmac.compare_digest(claimed.strip().upper().encode(),
                                                            id_number.strip().upper().encode())
