"""Health authority API: marking people (赋码 / 转码)."""
from __future__ import annotations

from typing import Any

from flask import g

from blueprints.auth import BEARER, UNAUTHORIZED, WRONG_ROLE, require, services
from blueprints.errors import ApiBlueprint
from blueprints.schemas import MarkerRemovalSchema, MarkerRequestSchema, MarkerSchema, error_doc, iso
from core.marking import MarkerRequest, MarkingOutcome
from core.model import Role

blp = ApiBlueprint("authority", __name__, url_prefix="/api/v1/authority", description="Health authority")


def marker_body(outcome: MarkingOutcome) -> dict[str, Any]:
    m = outcome.marker
    return {
        "id": m.id,
        "person_id": m.person_id,
        "kind": m.kind,
        "reason": m.reason,
        "since": iso(m.since),
        "until": iso(outcome.until),
        "status": m.status,
        "removed_at": iso(outcome.removed_at),
        "color_before": outcome.color_before,
        "color_after": outcome.color_after,
    }


@blp.route("/markers", methods=["POST"])
@blp.doc(security=BEARER)
@require(Role.AUTHORITY)
@blp.arguments(MarkerRequestSchema())
@blp.response(201, MarkerSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
@blp.alt_response(404, **error_doc("not_found: no person with this person_id"))
def add_marker(data: dict[str, Any]) -> dict[str, Any]:
    """Mark a person (by ID number or person id) with a kind from the policy."""
    request = MarkerRequest(
        kind=data["kind"],
        reason=data["reason"],
        id_number=data.get("id_number"),
        person_id=data.get("person_id"),
        public_note=data.get("public_note"),
        since=int(data["since"].timestamp()) if data.get("since") else None,
        until=int(data["until"].timestamp()) if data.get("until") else None,
    )
    return marker_body(services().marking.add_marker(request, g.credential))


@blp.route("/markers/<string:marker_id>", methods=["DELETE"])
@blp.doc(security=BEARER)
@require(Role.AUTHORITY)
@blp.arguments(MarkerRemovalSchema())
@blp.response(200, MarkerSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
@blp.alt_response(404, **error_doc("not_found: no such marker (or it was already removed)"))
def remove_marker(data: dict[str, Any], marker_id: str) -> dict[str, Any]:
    """Clear a marker, with the reason."""
    return marker_body(services().marking.remove_marker(marker_id, data["reason"], g.credential))
