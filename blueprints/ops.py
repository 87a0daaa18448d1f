"""Operations: liveness, readiness."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from blueprints.auth import services

blp = Blueprint("ops", __name__)


@blp.get("/healthz")
def healthz() -> Response:
    """The process is up (also the benchmark's bare endpoint)."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz() -> Response:
    """The store answers; 503 store_unavailable if not."""
    services().store.ping()
    return jsonify(status="ready")
