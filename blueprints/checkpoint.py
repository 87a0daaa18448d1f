"""Checkpoints (数字哨兵): scanning a shown code, and the published verification keys."""
from __future__ import annotations

from typing import Any

from flask import Response, abort, current_app, g, jsonify, request

from blueprints.auth import BEARER, UNAUTHORIZED, WRONG_ROLE, require, services
from blueprints.errors import ApiBlueprint
from blueprints.schemas import JwksSchema, ScanRequestSchema, ScanResultSchema, iso
from core.health_codes import ScanResult
from core.model import Role

blp = ApiBlueprint("checkpoint", __name__, description="Checkpoints: scan codes, published keys")


@blp.route("/api/v1/scans", methods=["POST"])
@blp.doc(security=BEARER)
@require(Role.CHECKPOINT)
@blp.arguments(ScanRequestSchema())
@blp.response(200, ScanResultSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
def scan(data: dict[str, Any]) -> Response:
    """Verify a shown code: signature, expiry, and whether the status changed since it was issued."""
    scan_limit = current_app.extensions["healthcode.scan_limit"]
    refused = request.environ.pop(scan_limit.REFUSED, None)  # counted and refused by blueprints/hot.py
    result = refused or scan_limit.scan(services().codes, g.credential.id, data["qr"],
                                        data.get("place_id") or g.credential.name)
    if not isinstance(result, ScanResult):
        abort(scan_limit.refusal(result))
    return jsonify(scan_body(result))


def scan_body(result: ScanResult) -> dict[str, Any]:
    """The answer to a scan (plain JSON types already; ScanResultSchema documents it)."""
    if not result.valid:
        body = {"valid": False, "reason": str(result.reason), "checked_at": iso(result.checked_at)}
        if result.detail:
            body["detail"] = result.detail
        return body
    assert result.color is not None
    return {
        "valid": True,
        "color": result.color.value,
        "changed": result.changed,
        "person": {"name_masked": result.name_masked},
        "issued_at": iso(result.issued_at),
        "checked_at": iso(result.checked_at),
    }


@blp.route("/.well-known/health-code-keys", methods=["GET"])
@blp.response(200, JwksSchema)
def keys() -> dict[str, Any]:
    """Public keys (JWKS-style) to verify codes offline."""
    return services().keys.jwks()
