"""Security headers on every response, and no caching of anything under /api.

The H5 pages load only our own script and stylesheet (no inline script), and the QR is a data:
image, so their policy can be strict. /docs (Swagger UI's own inline script) gets the headers
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
        return response
