"""A console user's browser, over Flask's test client: it keeps the session cookie and posts each
form with the CSRF token of the last page it read, as the pages do."""
from __future__ import annotations

import re

from app import create_app
from tests.conftest import SERVER_URL

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-0123456789abcdef0123"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def console_app(**settings):
    """The app on the test database, with HEALTHCODE_<NAME> settings given as name=value."""
    config = {"HEALTHCODE_REDIS_URL": SERVER_URL, "HEALTHCODE_SECRET_KEY": SECRET, "TESTING": True}
    config.update({f"HEALTHCODE_{name.upper()}": value for name, value in settings.items()})
    return create_app(config)


def add_user(app, username: str, role: str, password: str = PASSWORD):
    return app.extensions["healthcode"].console.create(username, role, password)


class ConsoleBrowser:
    def __init__(self, app, ip: str = "10.1.0.1") -> None:
        self.client = app.test_client()
        self.environ = {"REMOTE_ADDR": ip}
        self.token: str | None = None

    def get(self, path: str, **kwargs):
        response = self.client.get(path, environ_base=self.environ, **kwargs)
        self._remember(response)
        return response

    def post(self, path: str, data: dict | None = None, csrf: bool = True, **kwargs):
        form = dict(data or {})
        if csrf and self.token:
            form.setdefault("csrf_token", self.token)
        response = self.client.post(path, data=form, environ_base=self.environ, **kwargs)
        self._remember(response)
        return response

    def login(self, username: str, password: str = PASSWORD, page: str = "/console/login"):
        """Open the login page (a redirect's `page`, with its ?next=) and submit it as shown."""
        html = self.get(page).get_data(as_text=True)
        target = re.search(r'name="next" value="([^"]*)"', html)
        form = {"username": username, "password": password, "next": target.group(1) if target else ""}
        return self.post("/console/login", form)

    def cookie(self):
        """The console's session cookie, as the browser holds it (None when there is none)."""
        for name in ("hc_console", "__Secure-hc_console"):
            cookie = self.client.get_cookie(name, path="/console/")
            if cookie is not None:
                return cookie
        return None

    def _remember(self, response) -> None:
        found = _TOKEN.search(response.get_data(as_text=True)) if response.mimetype == "text/html" else None
        if found:
            self.token = found.group(1)


def flashes(response) -> list[str]:
    return re.findall(r'<p class="flash [^"]*"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


def field_errors(response) -> dict[str, list[str]]:
    """The messages shown under each field: {field name: [message]}."""
    html = response.get_data(as_text=True)
    found = re.findall(r'<div class="err" id="[^"]+" data-for="(\w+)">(.*?)</div>', html, re.S)
    return {name: re.findall(r"<p>(.*?)</p>", body) for name, body in found}


def form_alert(response) -> list[str]:
    html = response.get_data(as_text=True)
    found = re.search(r'<div class="alert" role="alert">(.*?)</div>', html, re.S)
    return re.findall(r"<p>(.*?)</p>", found.group(1)) if found else []
