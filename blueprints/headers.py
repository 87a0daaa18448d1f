"""Security headers on every response, and no caching of anything under /api.

The H5 pages and the console load only our own scripts and stylesheets (no inline script; the
console's chart data is a JSON block its script reads), and the QR is a data: image, so their
policy can be strict. /docs (Swagger UI's own inline script) gets the headers
without a content policy.
"""
from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def secure_headers(app: Flask) -> None:
    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("X-Frame-Options", "DENY")
        path = request.path
        if path.startswith(("/api/", "/webhooks/")):
            # Live signed codes and personal data: never kept by a browser or a proxy.
            headers["Cache-Control"] = "no-store"
            headers.setdefault("Content-Security-Policy", API_POLICY)
        elif path.startswith("/m/") or path == "/m":
            headers.setdefault("Cache-Control", "no-store")
            headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        elif path.startswith("/console/"):
            headers.setdefault("Cache-Control", "no-store")
            headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            # Flask-WTF checks that an HTTPS form post comes from our own pages by its Referer:
            # sent to this origin only, never to another site.
            headers["Referrer-Policy"] = "same-origin"
        return response
