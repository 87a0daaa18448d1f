"""The yardstick of the hot paths: each operation done the least it can be, as a plain WSGI
callable (no Flask, no framework), on the same Redis data, served by the same server and
workers as the app, in the same run (`python bench/run.py` serves `bench.reference:create_app()`,
which is the app with these routes in front of it).

  GET  /ref/read/<pid>    one round trip that checks the bearer token and fetches the person's
                          facts (the app's own pipeline and script), the colour rule, one CBOR +
                          ES256 + base45 signature, a JSON answer;
  POST /ref/scan          base45 + CBOR + ES256 verification (and the code id opened, to know
                          whose it is), one round trip that reads the current status and appends
                          the scan durably (`appendfsync always`), a JSON answer;
  GET  /ref/repeat/<pid>  one round trip that checks the token and fetches a stored answer, a
                          JSON answer (the answer is stored by the first /ref/read of the person).

No rate limiting, metrics, security headers, error bodies, query parsing, masking or
decryption: what is left is what no implementation of the operation can skip. The app's
figures are reported as ratios to these (bench/run.py).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from adapters.store.keys import session_key
from adapters.store.scripts import read_round_trip
from core.accounts import account_hint, token_hash
from core.codes import CodeClaims
from core.color import derive_color
from core.model import ScanRecord

READ, SCAN, REPEAT = "/ref/read/", "/ref/scan", "/ref/repeat/"
JSON = [("Content-Type", "application/json")]
NOT_FOUND = b'{"error":"not found"}'


def _answer_key(person_id: str) -> str:
    return f"hc:bench:ref:{{{person_id}}}"


def references(services: Any, client: Any) -> Callable[..., Iterable[bytes]]:
    """The reference WSGI callable over the app's own services and Redis client."""
    reads, codec, code_ids = services.codes._reads, services.codes._issuer.signer, services.codes._issuer.code_ids
    policies = services.colors._policies
    issuer, ttl = services.codes._issuer.issuer, services.codes._issuer.ttl
    retention = services.colors.retention

    def token(environ: dict[str, Any]) -> str:
        header = environ.get("HTTP_AUTHORIZATION", "")
        return header[7:] if header.startswith("Bearer ") else ""

    def read(environ: dict[str, Any], person_id: str) -> tuple[str, bytes]:
        bearer = token(environ)
        account = account_hint(bearer)
        snapshot = reads.load_for_session(token_hash(bearer), account, person_id)
        if snapshot.session is None or snapshot.session.account_id != account or snapshot.link is None:
            return "401 Unauthorized", NOT_FOUND
        now = int(time.time())
        evaluation = derive_color(snapshot.facts, policies.current(), now)
        claims = CodeClaims(issuer, code_ids.seal(person_id, now), evaluation.color, now, now + ttl, "张*")
        body = json.dumps({"color": evaluation.color.value, "qr": codec.sign(claims),
                           "expires_at": now + ttl}).encode()
        if environ.get("QUERY_STRING") == "store":  # what /ref/repeat answers (bench/run.py warms it)
            client.set(_answer_key(person_id), body, ex=ttl)
        return "200 OK", body

    def scan(environ: dict[str, Any]) -> tuple[str, bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        doc = json.loads(environ["wsgi.input"].read(size))
        qr, place = doc["qr"], doc.get("place_id") or "ref"
        claims = codec.verify(qr)
        person_id, issued_at = code_ids.open(claims.code_id)
        now = int(time.time())
        snapshot = reads.load_and_record_scan(person_id, ScanRecord(now, place, claims.color.value), issued_at,
                                              retention)
        evaluation = derive_color(snapshot.facts, policies.current(), now)
        return "200 OK", json.dumps({"valid": True, "color": evaluation.color.value}).encode()

    def repeat(environ: dict[str, Any], person_id: str) -> tuple[str, bytes]:
        bearer = token(environ)
        # The same lean round trip as the app's hot read (adapters/store/scripts.py).
        session, body = read_round_trip(client, [("GET", session_key(token_hash(bearer))),
                                                 ("GET", _answer_key(person_id))], ())
        if session is None or body is None:
            return "401 Unauthorized", NOT_FOUND
        return "200 OK", body

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(READ):
            status, body = read(environ, path[len(READ):])
        elif path.startswith(REPEAT):
            status, body = repeat(environ, path[len(REPEAT):])
        elif path == SCAN:
            status, body = scan(environ)
        else:
            status, body = "404 Not Found", NOT_FOUND
        start_response(status, [*JSON, ("Content-Length", str(len(body)))])
        return [body]

    return application


def create_app() -> Callable[..., Iterable[bytes]]:
    """The app, with the references in front under /ref/ (gunicorn 'bench.reference:create_app()')."""
    from app import create_app as create_healthcode_app

    app = create_healthcode_app()
    services = app.extensions["healthcode"]
    client = app.extensions["healthcode.runtime"].store.client
    reference = references(services, client)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/ref/"):
            return reference(environ, start_response)
        return app(environ, start_response)

    return dispatch
