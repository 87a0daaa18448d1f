"""OpenID Connect ID tokens, verified as Authlib's own OIDC client does (Authlib ≥ 1.9,
authlib/integrations/base_client/sync_openid.py::parse_id_token): the signature with joserfc
against the provider's JWKS, refetched once on an unknown kid (key rotation), then the claims
with authlib.oidc.core.CodeIDToken. Unlike parse_id_token we also require `aud` to hold our
client id: Authlib checks aud only through azp (OpenID Connect Core 1.0 §3.1.3.7, step 3).
"""
from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import requests
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from core.clock import Clock

LEEWAY = 60
"""Seconds of clock skew allowed on exp/iat, as Authlib's default leeway (it uses 120)."""


class IdTokenInvalid(Exception):
    """The ID token did not verify: signature, key set, issuer, audience or lifetime."""


class JwksCache:
    """The provider's signing keys, fetched from `jwks_uri` and kept for `ttl` seconds."""

    def __init__(self, jwks_uri: str, timeout: float, clock: Clock, ttl: int = 3_600) -> None:
        self._uri = jwks_uri
        self._timeout = timeout
        self._clock = clock
        self._ttl = ttl
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = 0

    def keys(self, refresh: bool = False) -> KeySet:
        """The key set, refetched when stale or on `refresh`; requests.RequestException or
        ValueError when it cannot be fetched.

        `refresh` is not rate-limited: ID tokens come from the token endpoint's reply, never from
        the mini-program, so nobody but the platform can make us meet an unknown kid.
        """
        with self._lock:
            now = self._clock.now()
            if refresh or self._keys is None or now - self._fetched_at >= self._ttl:
                response = requests.get(self._uri, timeout=self._timeout)
                response.raise_for_status()
                self._keys = KeySet.import_key_set(response.json())
                self._fetched_at = now
            assert self._keys is not None
            return self._keys


def verified_claims(id_token: str, keys: JwksCache, *, issuer: str, client_id: str, algorithms: Sequence[str],
                    access_token: str | None, clock: Clock) -> dict[str, Any]:
    """The claims of an ID token from the token endpoint (authorization-code flow); IdTokenInvalid
    when it does not verify. No nonce: the mini-program made the authorization request, not us."""
    try:
        try:
            token = jwt.decode(id_token, keys.keys(), algorithms=list(algorithms))
        except InvalidKeyIdError:
            token = jwt.decode(id_token, keys.keys(refresh=True), algorithms=list(algorithms))
        options = {"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}}
        params = {"client_id": client_id, "access_token": access_token}
        claims = CodeIDToken(token.claims, token.header, options, params)
        claims.validate(now=clock.now(), leeway=LEEWAY)
    except (JoseError, ValueError) as exc:
        # The error and the claim's name (iss, aud …: what to fix in the configuration), no values.
        claim = getattr(exc, "claim", None)
        raise IdTokenInvalid(f"{type(exc).__name__}({claim})" if claim else type(exc).__name__) from None
    return dict(claims)
