"""The console's server-side session, and who is signed in.

The cookie carries only an opaque random id (256 bits). The session itself (the user, the CSRF
secret Flask-WTF keeps in it, flashed messages) lives in Redis under the id's hash until its
end, set at its first save (core.console.ConsoleUserService.keep_session), so a logout or a
disabled user ends it at once. Outside /console/ there is no session at all (Flask's null
session): the API, the pages and the scans never read or write one.
"""
from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, g, redirect, render_template, request, url_for
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

from blueprints.auth import services
from core.model import Color, Credential, Role

PATH = "/console/"
# Names every console page shows.
ROLE_NAMES = {Role.AUTHORITY.value: "赋码人员", Role.APPROVER.value: "审批人员", Role.AUDITOR.value: "审计人员"}
COLOR_NAMES = {Color.GREEN.value: "绿码", Color.YELLOW.value: "黄码", Color.RED.value: "红码"}


class ConsoleSession(CallbackDict[str, Any], SessionMixin):
    """A session's data, and the id it is kept under (None until its first save)."""

    def __init__(self, data: dict[str, Any] | None = None, token: str | None = None) -> None:
        def on_update(session: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data, on_update)
        self.token = token
        self.modified = False
        self.ended: str | None = None  # the id rotate() retired
        self.unavailable: Exception | None = None  # the store failed when the session was opened

    def rotate(self) -> None:
        """Go on under a new id, the old one ended (at login and logout: no session fixation)."""
        if self.token is not None:
            self.ended = self.token
        self.token = None
        self.modified = True


class ConsoleSessionInterface(SessionInterface):
    def __init__(self, secure: bool) -> None:
        self.secure = secure
        # The __Secure- prefix: browsers accept the cookie only with Secure, from HTTPS.
        self.cookie = "__Secure-hc_console" if secure else "hc_console"

    def open_session(self, app: Flask, request: Request) -> ConsoleSession | None:
        if not request.path.startswith(PATH):
            return None
        token = request.cookies.get(self.cookie)
        try:
            data = services().console.session(token) if token else None
        except services().store.errors as exc:  # answered as 503 by the console's first hook
            session = ConsoleSession()
            session.unavailable = exc
            return session
        return ConsoleSession(data, token if data is not None else None)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ConsoleSession) or session.unavailable is not None:
            return
        console = services().console
        if session.ended is not None:
            console.end_session(session.ended)
        if not session.modified:
            return
        response.vary.add("Cookie")
        if not session:
            if session.token is not None:
                console.end_session(session.token)
            response.delete_cookie(self.cookie, path=PATH, secure=self.secure, httponly=True, samesite="Strict")
            return
        session.token = session.token or secrets.token_urlsafe(32)
        ends = console.keep_session(session.token, dict(session))
        response.set_cookie(self.cookie, session.token, expires=ends, path=PATH, secure=self.secure,
                            httponly=True, samesite="Strict")


def acting() -> Credential | None:
    """The signed-in console user's credential (set by the console's first hook)."""
    credential: Credential | None = g.get("console_credential")
    return credential


def me() -> Credential:
    """The signed-in user's credential, in a view behind `signed_in`."""
    credential = acting()
    assert credential is not None, "a console view without @signed_in"
    return credential


def signed_in(roles: tuple[Role, ...]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: a signed-in console user with one of the roles; others go to the login page,
    a user of another role gets a page saying which roles may use this one."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            credential = acting()
            if credential is None:
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            if credential.role not in roles:
                names = "、".join(ROLE_NAMES[role] for role in roles)
                return render_template("console/error.html", title="无权访问",
                                       text=f"此页面仅供{names}使用。"), 403
            return view(*args, **kwargs)

        return wrapped

    return decorate
