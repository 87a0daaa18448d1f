"""The hottest request, answered before Flask: GET /api/v1/persons/{id}/health-code.

Every page refresh and every retry under load is this read (粤康码 collapsed under it on
2022-01-10), and per request Flask's routing, request and app contexts, flask-smorest's and
webargs' wrappers and the after-request hooks cost more than the read itself. So this WSGI
layer answers the plain, successful case itself, with the same services, the same body, the
same headers and the same metrics as the Flask view (tests/e2e/test_hot_path.py compares them
byte for byte), and hands everything else to Flask untouched: another path or method, any query
it does not know, a refused token or any other error (Flask then answers it, its error body,
status and limiter counting included; the refused read is simply made once more), an IP the
bearer-failure limit stops. `HEALTHCODE_FAST_PATHS=0` turns it off.
"""
from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from blueprints.citizen import health_code_body
from blueprints.headers import API_POLICY
from blueprints.limits import BearerFailures
from blueprints.metrics import LATENCY, REQUESTS
from core.health_codes import HealthCodeView
from core.model import CachedAnswer
from core.wiring import Services

READ = re.compile(r"/api/v1/persons/([^/]+)/health-code")
QUERIES = {"": ("zh", ""), "lang=zh": ("zh", ""), "lang=en": ("en", ""), "image=svg": ("zh", "svg"),
           "lang=zh&image=svg": ("zh", "svg"), "image=svg&lang=zh": ("zh", "svg"),
           "lang=en&image=svg": ("en", "svg"), "image=svg&lang=en": ("en", "svg")}
HEADERS = [
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Content-Security-Policy", API_POLICY),
]
ENDPOINT = "citizen.health_code"


class HotPaths:
    """WSGI middleware in front of the Flask app (inside ProxyFix, so the client IP is known)."""

    def __init__(self, app: Flask, services: Services, failures: BearerFailures,
                 wsgi: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._next = wsgi
        self._services = services
        self._failures = failures
        self._dumps = app.json.dumps
        self._counted = REQUESTS.labels(ENDPOINT, "GET", "200")
        self._latency = LATENCY.labels(ENDPOINT)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "GET":
            found = READ.fullmatch(environ.get("PATH_INFO", ""))
            query = QUERIES.get(environ.get("QUERY_STRING", ""))
            if found is not None and query is not None:
                answer = self._read(environ, found.group(1), *query)
                if answer is not None:
                    body, age = answer
                    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(body))), ("Age", age)])
                    return [body]
        return self._next(environ, start_response)

    def _read(self, environ: dict[str, Any], person_id: str, lang: str, image: str) -> tuple[bytes, str] | None:
        started = time.perf_counter()
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self._failures.stopped(environ.get("REMOTE_ADDR") or "unknown"):
            return None
        codes = self._services.codes
        try:
            shown = codes.show_for_token(token, person_id, lang, image)
            if isinstance(shown, CachedAnswer):
                body, issued_at = shown.body, shown.issued_at
            else:
                body, issued_at = self._build(shown, lang, image), shown.issued_at
                codes.remember(shown, body)
        except Exception:  # noqa: BLE001 - any refusal or failure: Flask answers it as it always does
            return None
        self._counted.inc()
        self._latency.observe(time.perf_counter() - started)
        return body, str(max(0, int(time.time()) - issued_at))

    def _build(self, view: HealthCodeView, lang: str, image: str) -> bytes:
        body = health_code_body(view, lang, self._services.contact)
        if image == "svg":
            svg = self._services.qr.svg(view.qr, view.evaluation.color.value)
            body["qr_image"] = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
        return f"{self._dumps(body)}\n".encode()
