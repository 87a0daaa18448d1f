"""A minimal OpenID Connect provider over real HTTP: what a government-services platform's
identity service looks like to its relying parties.

`POST /token` (authorization_code, client_secret_basic or _post, single-use codes bound to the
redirect_uri; errors as RFC 6749 §5.2 JSON), `GET /jwks`, `GET /userinfo` (Bearer). ID tokens
are RS256 JWTs made here with `cryptography`, not with the library the adapter verifies with.
`misbehave` breaks the next replies in one way; `rotate()` changes the signing key and kid.
"""
from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from werkzeug.wrappers import Request, Response


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(secrets.token_hex(4), rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "n": _int(numbers.n), "e": _int(numbers.e)}

    def jwt(self, claims: dict[str, Any], kid: str | None = None) -> str:
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid or self.kid}).encode())
        payload = b64url(json.dumps(claims, ensure_ascii=False).encode())
        signature = self.private.sign(f"{header}.{payload}".encode(), PKCS1v15(), hashes.SHA256())
        return f"{header}.{payload}.{b64url(signature)}"


@dataclass
class Grant:
    sub: str
    claims: dict[str, Any]
    in_id_token: bool


@dataclass
class OidcProvider:
    client_id: str
    client_secret: str
    redirect_uri: str
    keys: list[SigningKey]
    issuer: str = ""  # the base URL, once served
    id_tokens: bool = True  # False: a plain OAuth 2.0 provider
    codes: dict[str, Grant] = field(default_factory=dict)
    access_tokens: dict[str, Grant] = field(default_factory=dict)
    jwks_fetches: int = 0
    misbehave: str | None = None  # "500", "timeout", "forged", "wrong-iss", "wrong-aud", "expired", "other-sub"
    delay: float = 2.0

    def issue_code(self, sub: str, claims: dict[str, Any] | None = None, *, in_id_token: bool = True) -> str:
        """The code the platform's authorization page hands the mini-program for this user."""
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(sub, dict(claims or {}), in_id_token)
        return code

    def rotate(self) -> None:
        self.keys.insert(0, SigningKey.generate())

    def __call__(self, request: Request) -> Response:
        if self.misbehave == "timeout":
            time.sleep(self.delay)
        if self.misbehave == "500":
            return Response("upstream error", status=500)
        route = {("POST", "/token"): self._token, ("GET", "/jwks"): self._jwks,
                 ("GET", "/userinfo"): self._userinfo}.get((request.method, request.path))
        return route(request) if route else Response("not found", status=404)

    def _jwks(self, request: Request) -> Response:
        self.jwks_fetches += 1
        return _json({"keys": [key.jwk() for key in self.keys]})

    def _client_ok(self, request: Request) -> bool:
        if request.authorization and request.authorization.type == "basic":
            given = (request.authorization.username, request.authorization.password)
        else:
            given = (request.form.get("client_id"), request.form.get("client_secret"))
        return given == (self.client_id, self.client_secret)

    def _token(self, request: Request) -> Response:
        if not self._client_ok(request):
            return _json({"error": "invalid_client"}, 401)
        if request.form.get("grant_type") != "authorization_code":
            return _json({"error": "unsupported_grant_type"}, 400)
        grant = self.codes.pop(request.form.get("code", ""), None)
        if grant is None or request.form.get("redirect_uri") != self.redirect_uri:
            return _json({"error": "invalid_grant", "error_description": "code unknown, expired or used"}, 400)
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = grant
        reply: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}
        if self.id_tokens:
            reply["id_token"] = self._id_token(grant)
        return _json(reply)

    def _id_token(self, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "sub": grant.sub, "aud": self.client_id, "iat": now,
                                  "exp": now + 300, "auth_time": now, **(grant.claims if grant.in_id_token else {})}
        if self.misbehave == "wrong-iss":
            claims["iss"] = "https://impostor.example"
        if self.misbehave == "wrong-aud":
            claims["aud"] = "another-client"
        if self.misbehave == "expired":
            claims["iat"], claims["exp"] = now - 3600, now - 600
        if self.misbehave == "forged":
            return SigningKey.generate().jwt(claims, kid=self.keys[0].kid)
        return self.keys[0].jwt(claims)

    def _userinfo(self, request: Request) -> Response:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        grant = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None:
            return _json({"error": "invalid_token"}, 401)
        sub = "someone-else" if self.misbehave == "other-sub" else grant.sub
        return _json({"sub": sub, **grant.claims})


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")
