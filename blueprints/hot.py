"""The two hottest requests, answered before Flask: GET /api/v1/persons/{id}/health-code and
POST /api/v1/scans.

Every page refresh and every retry under load is the read (粤康码 collapsed under it on
2022-01-10), every gate the scan, and per request Flask's routing, request and app contexts,
flask-smorest's and webargs' wrappers and the after-request hooks cost more than the work
itself. So this WSGI layer answers the plain, successful case itself, with the same services,
the same validation schema, the same body, headers, rate limits (the limiter's own counters,
through its `limits` strategy) and metrics as the Flask views (tests/e2e/test_hot_path.py
compares them; the metrics tallied per process, in /metrics within a second: metrics.Tally),
and hands everything else to Flask untouched: another path or method, any
query it does not know, a body it does not take, a refused token, a limit reached or any other
error (Flask then answers it, its error body, status and counting included; the refused request
is simply made once more), an IP the bearer-failure limit stops. `HEALTHCODE_FAST_PATHS=0`
turns it off.
"""
from __future__ import annotations

import base64
import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from flask import Flask

from blueprints.checkpoint import scan_body
from blueprints.citizen import health_code_body
from blueprints.headers import API_POLICY
from blueprints.limits import BearerFailures, ScanLimit
from blueprints.metrics import tally
from blueprints.schemas import FlatLoader, ScanRequestSchema
from blueprints.travel import card_body
from core.health_codes import HealthCodeView, ScanResult
from core.model import CachedAnswer, Role
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
SCAN, SCAN_ENDPOINT = "/api/v1/scans", "checkpoint.scan"
CARD, CARD_ENDPOINT = "/api/v1/travel/card", "travel.card"
CARD_QUERIES = {"": None, "lang=zh": "zh", "lang=en": "en"}
MAX_SCAN_BODY = 4096


def json_encoder(app: Flask) -> Callable[[Any], bytes]:
    """What jsonify sends for a body of plain JSON types (app.json.dumps with its compact
    separators, and a newline), as bytes: by orjson, whose bytes are the same for those (UTF-8,
    the same escapes, keys sorted as the provider sorts them: tests/unit/test_hot_json.py) at a
    fourteenth of the stdlib encoder's cost (~0.4 against ~5 us a health-code answer). Anything
    else orjson would write otherwise (an int beyond 64 bits, a key not a string, a date, a
    dataclass or another type for the provider's default, ASCII-only output; a float, which no hot
    answer has: orjson writes NaN as null) goes to the stdlib encoder, made once here: json.dumps
    with arguments makes a JSONEncoder per call."""
    provider: Any = app.json
    stdlib = json.JSONEncoder(default=provider.default, ensure_ascii=provider.ensure_ascii,
                              sort_keys=provider.sort_keys, separators=(",", ":")).encode
    # Dates and dataclasses to the stdlib encoder too: orjson would write them its own way, not
    # as the provider's default does.
    option = (orjson.OPT_APPEND_NEWLINE | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
              | (orjson.OPT_SORT_KEYS if provider.sort_keys else 0))
    fast = orjson.dumps

    def slow(body: Any) -> bytes:
        return f"{stdlib(body)}\n".encode()

    if provider.ensure_ascii:  # orjson writes UTF-8 only
        return slow

    def dumps(body: Any) -> bytes:
        try:
            return fast(body, None, option)
        except TypeError:  # orjson.JSONEncodeError: not plain JSON types, a big int
            return slow(body)

    return dumps


class HotPaths:
    """WSGI middleware in front of the Flask app (inside ProxyFix, so the client IP is known)."""

    def __init__(self, app: Flask, services: Services, failures: BearerFailures,
                 wsgi: Callable[..., Iterable[bytes]], scan_limit: ScanLimit | None = None) -> None:
        self._app = app
        self._next = wsgi
        self._services = services
        self._failures = failures
        self._dumps = json_encoder(app)
        self._tally = tally(ENDPOINT, "GET")
        self._scan_tally = tally(SCAN_ENDPOINT, "POST")
        self._scan_limit = scan_limit
        self._scan_schema = FlatLoader(ScanRequestSchema())
        self._card_tally = tally(CARD_ENDPOINT, "GET")

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            path = environ.get("PATH_INFO", "")
            found = READ.fullmatch(path)  # the read first: every refresh is one
            if found is not None:
                query = QUERIES.get(environ.get("QUERY_STRING", ""))
                answer = self._read(environ, found.group(1), *query) if query is not None else None
                if answer is not None:
                    body, age = answer
                    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(body))), ("Age", age)])
                    return [body]
            elif path == CARD and environ.get("QUERY_STRING", "") in CARD_QUERIES:
                card = self._card(environ)
                if card is not None:
                    start_response("200 OK", [*HEADERS, ("Content-Length", str(len(card)))])
                    return [card]
        elif method == "POST" and environ.get("PATH_INFO") == SCAN and not environ.get("QUERY_STRING"):
            scanned = self._scan(environ)
            if scanned is not None:
                start_response("200 OK", [*HEADERS, ("Content-Length", str(len(scanned)))])
                return [scanned]
        return self._next(environ, start_response)

    def _card(self, environ: dict[str, Any]) -> bytes | None:
        started = time.perf_counter()
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        # As wants_english(): ?lang=, else the Accept-Language header.
        lang = CARD_QUERIES[environ.get("QUERY_STRING", "")] or environ.get("HTTP_ACCEPT_LANGUAGE", "")
        lang = "en" if lang.strip().lower().startswith("en") else "zh"
        try:
            body = self._dumps(card_body(self._services.travel.card(token, lang), lang))
        except Exception:  # noqa: BLE001 - refused, retired, or failed: Flask answers it
            return None
        self._card_tally.note(time.perf_counter() - started)
        return body

    def _scan(self, environ: dict[str, Any]) -> bytes | None:
        started = time.perf_counter()
        try:
            size = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return None
        if not 0 < size <= MAX_SCAN_BODY or not environ.get("CONTENT_TYPE", "").startswith("application/json"):
            return None
        raw = environ["wsgi.input"].read(size)
        environ["wsgi.input"] = io.BytesIO(raw)  # Flask reads it again if it answers instead
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or self._scan_limit is None:
            return None
        if self._failures.stopped(environ.get("REMOTE_ADDR") or "unknown"):
            return None
        try:
            data = self._scan_schema.load(json.loads(raw))
            credential = self._services.credentials.authenticate(token, Role.CHECKPOINT)
            result = self._scan_limit.scan(self._services.codes, credential.id, data["qr"],
                                           data.get("place_id") or credential.name)  # the view's counters
            if not isinstance(result, ScanResult):
                environ[ScanLimit.REFUSED] = result  # Flask answers the 429, without counting again
                return None
            body = self._dumps(scan_body(result))
        except Exception:  # noqa: BLE001 - as for the read: Flask answers it
            return None
        self._scan_tally.note(time.perf_counter() - started)
        return body

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
        self._tally.note(time.perf_counter() - started)
        return body, str(max(0, int(time.time()) - issued_at))

    def _build(self, view: HealthCodeView, lang: str, image: str) -> bytes:
        body = health_code_body(view, lang, self._services.contact)
        if image == "svg":
            svg = self._services.qr.svg(view.qr, view.evaluation.color.value)
            body["qr_image"] = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
        return self._dumps(body)
