"""The one way each audience authenticates: `Authorization: Bearer <token>`."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from flask import current_app, g, request

from blueprints.schemas import error_doc
from core.errors import Msg, Unauthorized
from core.model import Role
from core.wiring import Services

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
# OpenAPI, for `blp.alt_response(status, **doc)`: what `require` answers.
UNAUTHORIZED = error_doc("unauthorized: missing, expired or revoked token")
WRONG_ROLE = error_doc("forbidden: the credential does not have this route's role")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def services() -> Services:
    """The app's wired services (app.py, core/wiring.py)."""
    wired: Services = current_app.extensions["healthcode"]
    return wired


def require(audience: Role | tuple[Role, ...] | Literal["citizen", "bearer"]) -> Callable[
        [Callable[..., Any]], Callable[..., Any]]:
    """Decorator: `citizen` (mini-program session), a staff Role, or `bearer` (a token must be
    present; the view's service checks it, fused with its read)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            token = bearer_token()
            if token is None:
                raise Unauthorized(Msg.BEARER_MISSING)
            # A rate limit keyed by the account or credential may have checked it already.
            if audience == "citizen" and g.get("session") is None:
                g.session = services().sessions.authenticate(token)
            elif isinstance(audience, Role | tuple) and g.get("credential") is None:
                g.credential = services().credentials.authenticate(token, audience)
            return view(*args, **kwargs)

        return wrapped

    return decorate
