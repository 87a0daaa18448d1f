"""Health authority API: marking people (赋码 / 转码) under the two-person rule, risk areas,
appeals, the audit trail and the dashboard. Every change is one audit entry."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import g

from blueprints.auth import BEARER, UNAUTHORIZED, WRONG_ROLE, require, services
from blueprints.authority_schemas import (
    AppealListSchema,
    AppealQuerySchema,
    AppealSchema,
    AuditListSchema,
    AuditQuerySchema,
    AuditVerificationSchema,
    BulkMarkersSchema,
    BulkResultSchema,
    DashboardSchema,
    DecisionSchema,
    MarkerApprovalSchema,
    MarkerRemovalSchema,
    MarkerRequestSchema,
    MarkerSchema,
    PendingListSchema,
    RiskAreaListSchema,
    RiskAreaRequestSchema,
    RiskAreaSchema,
)
from blueprints.errors import ApiBlueprint
from blueprints.messages import localize
from blueprints.schemas import error_doc, iso
from core.divisions import area_name
from core.marking import BulkRow, MarkerRequest, MarkingOutcome
from core.model import Appeal, AuditEntry, RiskArea, Role

blp = ApiBlueprint("authority", __name__, url_prefix="/api/v1/authority", description="Health authority")
MARKING = (Role.AUTHORITY,)
APPROVING = (Role.AUTHORITY, Role.APPROVER)  # the rule is "not the same credential", not another role
AUDITING = (Role.AUDITOR,)


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
        "lapses_at": iso(outcome.lapses_at),
        "approved_by": m.approved_by,
        "public_note": m.note,
        "created_by": m.created_by,
        "created_at": iso(m.created_at),
        "color_before": outcome.color_before,
        "color_after": outcome.color_after,
    }


def appeal_body(appeal: Appeal) -> dict[str, Any]:
    return {"id": appeal.id, "person_id": appeal.person_id, "status": appeal.status, "reason": appeal.reason,
            "marker_id": appeal.marker_id, "created_at": iso(appeal.created_at),
            "decided_at": iso(appeal.decided_at), "decision_reason": appeal.decision_reason}


def area_body(area: RiskArea) -> dict[str, Any]:
    return {"code": area.code, "name": area_name(area.code), "level": area.level, "note": area.note,
            "at": iso(area.at), "by": area.by}


def areas_body(areas: Iterable[RiskArea]) -> list[dict[str, Any]]:
    """The areas, high and medium first, then by code."""
    order = {"high": 0, "medium": 1, "low": 2}
    return [area_body(a) for a in sorted(areas, key=lambda a: (order.get(a.level, 3), a.code))]


def entry_body(entry: AuditEntry) -> dict[str, Any]:
    return {"seq": entry.seq, "at": iso(entry.at), "actor": entry.actor, "role": entry.role, "action": entry.action,
            "target": entry.target, "reason": entry.reason, "before": entry.before, "after": entry.after,
            "prev_hash": entry.prev_hash, "hash": entry.hash}


def marker_request(data: dict[str, Any]) -> MarkerRequest:
    """The core's request from a MarkerRequestSchema's data (the API's body, the console's form)."""
    return MarkerRequest(
        kind=data["kind"], reason=data["reason"], id_number=data.get("id_number"), person_id=data.get("person_id"),
        public_note=data.get("public_note"),
        since=int(data["since"].timestamp()) if data.get("since") else None,
        until=int(data["until"].timestamp()) if data.get("until") else None,
    )


def bulk_requests(data: dict[str, Any]) -> list[MarkerRequest]:
    """One request per ID number of a BulkMarkersSchema's data, all of the same kind and reason."""
    return [MarkerRequest(kind=data["kind"], reason=data["reason"], id_number=number,
                          public_note=data.get("public_note")) for number in data["id_numbers"]]


def bulk_body(rows: Sequence[BulkRow]) -> dict[str, Any]:
    """Each row's marker status and id, or why it was refused (localized)."""
    out = []
    for row in rows:
        if row.outcome is not None:
            out.append({"line": row.line, "status": row.outcome.marker.status, "marker_id": row.outcome.marker.id})
        else:
            assert row.error is not None
            error: dict[str, Any] = {"code": row.error.code, "message": localize(row.error.message)}
            if row.error.fields:
                error["fields"] = {k: [localize(m) for m in v] for k, v in row.error.fields.items()}
            out.append({"line": row.line, "status": "refused", "error": error})
    return {"accepted": sum(1 for r in out if r["status"] != "refused"), "rows": out}


def dashboard_body(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's counters, with what waits as its count, the oldest age and every age."""
    body = dict(snapshot)
    for name in ("open_appeals", "pending_approvals"):
        waiting = snapshot[name]
        body[name] = {"count": waiting.count, "oldest_seconds": waiting.oldest, "ages": list(waiting.ages)}
    return body


# -- markers ---------------------------------------------------------------------------------


@blp.route("/markers", methods=["POST"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(MarkerRequestSchema())
@blp.response(201, MarkerSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
@blp.alt_response(404, **error_doc("not_found: no person with this person_id"))
def add_marker(data: dict[str, Any]) -> dict[str, Any]:
    """Mark a person with a kind from the policy; a red one is `pending` until approved."""
    return marker_body(services().marking.add_marker(marker_request(data), g.credential))


@blp.route("/markers/bulk", methods=["POST"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(BulkMarkersSchema())
@blp.response(200, BulkResultSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
def add_markers(data: dict[str, Any]) -> dict[str, Any]:
    """Mark a list of ID numbers the same way; each row reported, the good ones kept."""
    return bulk_body(services().marking.add_markers(bulk_requests(data), g.credential))


@blp.route("/markers/pending", methods=["GET"])
@blp.doc(security=BEARER)
@require(APPROVING)
@blp.response(200, PendingListSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
def pending_markers() -> dict[str, Any]:
    """Manual red markers waiting for a second credential, oldest first."""
    return {"markers": [marker_body(outcome) for outcome in services().marking.pending()]}


@blp.route("/markers/<string:marker_id>/approve", methods=["POST"])
@blp.doc(security=BEARER)
@require(APPROVING)
@blp.arguments(MarkerApprovalSchema())
@blp.response(200, MarkerSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **error_doc("forbidden: the credential that proposed the marker cannot approve it"))
@blp.alt_response(404, **error_doc("not_found: no such marker"))
@blp.alt_response(409, **error_doc("conflict: the marker is not pending (approved, removed or lapsed)"))
def approve_marker(data: dict[str, Any], marker_id: str) -> dict[str, Any]:
    """Approve another credential's pending red marker: from now on it colours the code."""
    return marker_body(services().marking.approve(marker_id, g.credential))


@blp.route("/markers/<string:marker_id>", methods=["DELETE"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(MarkerRemovalSchema())
@blp.response(200, MarkerSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
@blp.alt_response(404, **error_doc("not_found: no such marker (or it was already removed)"))
def remove_marker(data: dict[str, Any], marker_id: str) -> dict[str, Any]:
    """Clear a marker, with the reason."""
    return marker_body(services().marking.remove_marker(marker_id, data["reason"], g.credential))


# -- risk areas ------------------------------------------------------------------------------


@blp.route("/risk-areas/<string(length=6):code>", methods=["PUT"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(RiskAreaRequestSchema())
@blp.response(200, RiskAreaSchema)
@blp.alt_response(401, **UNAUTHORIZED)
@blp.alt_response(403, **WRONG_ROLE)
@blp.alt_response(422, **error_doc("validation_error: not a county or city code of GB/T 2260"))
def set_risk_area(data: dict[str, Any], code: str) -> dict[str, Any]:
    """Set a county's or city's risk level (low, medium, high): one write, read by every code."""
    return area_body(services().risk_areas.set(code, data["level"], data["note"], g.credential))


@blp.route("/risk-areas", methods=["GET"])
@blp.doc(security=BEARER)
@require(MARKING + AUDITING)
@blp.response(200, RiskAreaListSchema)
def risk_areas() -> dict[str, Any]:
    """The current table (medium and high first)."""
    return {"areas": areas_body(services().risk_areas.current().values())}


@blp.route("/risk-areas/history", methods=["GET"])
@blp.doc(security=BEARER)
@require(MARKING + AUDITING)
@blp.response(200, RiskAreaListSchema)
def risk_area_history() -> dict[str, Any]:
    """Every change of the table, newest first."""
    return {"areas": [area_body(area) for area in services().risk_areas.history()]}


# -- appeals ---------------------------------------------------------------------------------


@blp.route("/appeals", methods=["GET"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(AppealQuerySchema(), location="query")
@blp.response(200, AppealListSchema)
def open_appeals(query: dict[str, Any]) -> dict[str, Any]:
    """Open appeals, oldest first."""
    return {"appeals": [appeal_body(a) for a in services().appeals.open_appeals()]}


@blp.route("/appeals/<string:appeal_id>/decision", methods=["POST"])
@blp.doc(security=BEARER)
@require(MARKING)
@blp.arguments(DecisionSchema())
@blp.response(200, AppealSchema)
@blp.alt_response(404, **error_doc("not_found: no such appeal"))
@blp.alt_response(409, **error_doc("conflict: the appeal is decided already"))
def decide_appeal(data: dict[str, Any], appeal_id: str) -> dict[str, Any]:
    """Decide an appeal with a reason: upheld clears the contested marker, rejected keeps it."""
    decided = services().appeals.decide(appeal_id, data["decision"] == "upheld", data["reason"], g.credential)
    return appeal_body(decided)


# -- audit and dashboard ---------------------------------------------------------------------


@blp.route("/audit", methods=["GET"])
@blp.doc(security=BEARER)
@require(AUDITING)
@blp.arguments(AuditQuerySchema(), location="query")
@blp.response(200, AuditListSchema)
@blp.alt_response(403, **WRONG_ROLE)
def audit(query: dict[str, Any]) -> dict[str, Any]:
    """The audit trail after `since`, each entry with prev_hash and hash."""
    return {"entries": [entry_body(e) for e in services().audit.entries(query["since"], query["limit"])]}


@blp.route("/audit/verify", methods=["GET"])
@blp.doc(security=BEARER)
@require(AUDITING)
@blp.response(200, AuditVerificationSchema)
@blp.alt_response(403, **WRONG_ROLE)
def verify_audit() -> dict[str, Any]:
    """Walk the whole chain: the first edited, inserted or deleted entry, if any."""
    result = services().audit.verify()
    return {"ok": result.ok, "entries": result.entries, "broken_at": result.broken_at, "problem": result.problem}


@blp.route("/dashboard", methods=["GET"])
@blp.doc(security=BEARER)
@require(MARKING + AUDITING)
@blp.response(200, DashboardSchema)
def dashboard() -> dict[str, Any]:
    """Persons by colour, new reasons by day, scans by hour, and what waits (with its age)."""
    return dashboard_body(services().dashboard.snapshot())
