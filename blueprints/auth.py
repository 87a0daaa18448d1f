"""The one way each audience authenticates: `Authorization: Bearer <token>`."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from blueprints.schemas import error_doc
from core.errors import Unauthorized

BEARER = [{"bearer": []}]
# OpenAPI, for `blp.alt_response(status, **doc)`: what `require` answers.
UNAUTHORIZED = error_doc("unauthorized: missing, expired or revoked token")
WRONG_ROLE = error_doc("forbidden: the credential does not have this route's role")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def services():
    return current_app.extensions["healthcode"]


def require(audience: str) -> Callable:
    """Decorator: `citizen` (mini-program session), a staff role (`authority`, `checkpoint`), or
    `bearer` (a token must be present; the view's service checks it, fused with its read)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise Unauthorized("missing bearer token")
            if audience == "bearer":
                pass
            elif audience == "citizen":
                g.session = services().sessions.authenticate(token)
            else:
                g.credential = services().credentials.authenticate(token, audience)
            return view(*args, **kwargs)

        return wrapped

    return decorate
