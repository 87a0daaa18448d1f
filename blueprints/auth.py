"""The one way each audience authenticates: `Authorization: Bearer <token>`."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app, g, request

from core.errors import Unauthorized

BEARER = [{"bearer": []}]


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def services():
    return current_app.extensions["healthcode"]


def require(audience: str) -> Callable:
    """Decorator: `citizen` (mini-program session) or a staff role (`authority`, `checkpoint`)."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise Unauthorized("missing bearer token")
            if audience == "citizen":
                g.session = services().sessions.authenticate(token)
            else:
                g.credential = services().credentials.authenticate(token, audience)
            return view(*args, **kwargs)

        return wrapped

    return decorate
